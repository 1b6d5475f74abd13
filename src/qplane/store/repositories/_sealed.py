"""Finding and rewrapping sealed values, shared by every table that stores them.

Key rotation moves data keys to a new KEK version without touching the
payloads: only the wrapped data key and its version change, with a
compare-and-set on the old ones so a concurrent writer is never overwritten.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select, tuple_, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from qplane.domain.ports import SealedArtifact, StaleSeal


@dataclass(frozen=True)
class SealedColumns:
    """Where one table keeps a sealed value, and how to name its rows and bindings."""

    model: type[Any]
    keys: tuple[InstrumentedAttribute[Any], ...]
    ring: InstrumentedAttribute[Any]
    version: InstrumentedAttribute[Any]
    wrapped_key: InstrumentedAttribute[Any]
    nonce: InstrumentedAttribute[Any]
    ciphertext: InstrumentedAttribute[Any]
    #: The (owner, project, subject, kind) binding of a row from `select_stale`'s result.
    binding: Callable[[Any], tuple[str, str, str, str]]
    #: Extra columns (joined in) that `binding` reads.
    extra: tuple[Any, ...] = ()
    join: Callable[[Select[Any]], Select[Any]] | None = None


def stale(
    session: Session, cols: SealedColumns, ring: str, below_version: int, limit: int
) -> list[StaleSeal]:
    stmt: Select[Any] = select(
        *cols.keys, cols.version, cols.wrapped_key, cols.nonce, cols.ciphertext, *cols.extra
    ).where(cols.ring == ring, cols.version < below_version)
    if cols.join is not None:
        stmt = cols.join(stmt)
    rows: Sequence[Any] = session.execute(stmt.limit(limit)).all()
    found = []
    for row in rows:
        n = len(cols.keys)
        sealed = SealedArtifact(
            kek_version=row[n],
            wrapped_key=bytes(row[n + 1]),
            nonce=bytes(row[n + 2]),
            # Rewrapping reads only the wrapped key; a payload kept outside the
            # row (an artifact's regional blob, NULL here) comes back empty.
            ciphertext=bytes(row[n + 3] or b""),
            kek_ring=ring,
        )
        found.append(StaleSeal(tuple(row[:n]), cols.binding(row), sealed))
    return found


def count_under(session: Session, cols: SealedColumns, ring: str, below_version: int) -> int:
    stmt = select(func.count()).select_from(cols.model)
    stmt = stmt.where(cols.ring == ring, cols.version < below_version)
    return int(session.scalar(stmt) or 0)


def rewrap(
    session: Session, cols: SealedColumns, seal: StaleSeal, version: int, wrapped_key: bytes
) -> bool:
    key = cols.keys[0] == seal.ref[0] if len(cols.keys) == 1 else tuple_(*cols.keys) == seal.ref
    stmt = (
        update(cols.model)
        .where(
            key,
            cols.ring == seal.sealed.kek_ring,
            cols.version == seal.sealed.kek_version,
            cols.wrapped_key == seal.sealed.wrapped_key,
        )
        .values({cols.version.key: version, cols.wrapped_key.key: wrapped_key})
        .execution_options(synchronize_session=False)
    )
    return bool(session.execute(stmt).rowcount)  # type: ignore[attr-defined]
