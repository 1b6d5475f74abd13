"""Signed checkpoints: the transparency log's tree head as a C2SP tlog-checkpoint.

A checkpoint (c2sp.org/tlog-checkpoint) is a signed note
(`qplane.audit.note`) whose text is, one newline-terminated line each::

    <origin>                      the log's identity, e.g. qplane.example/audit/ten_8f2c
    <tree size>                   ASCII decimal, no leading zeroes
    <root hash>                   base64 of the 32-byte RFC 9162 root
    time <POSIX seconds>          optional: qplane's one extension line

The signature lines follow a blank line: an Ed25519 line that any C2SP
verifier understands, and optionally a composite ML-DSA-65 + Ed25519 line.

Extension lines are opaque in the specification. qplane writes at most one,
``time`` followed by the signing time in whole seconds since the POSIX
epoch (the timestamp line syntax of c2sp.org/tlog-cosignature), so a tenant
can tell how fresh a checkpoint is; other extension lines are accepted and
returned untouched, as the specification requires, but qplane never writes
them (they are NOT RECOMMENDED).

Security properties of `parse_and_verify`: a checkpoint is returned only
when the note is well formed, *every* required verifier signed it, its
origin is exactly the log the caller asked about (so a checkpoint of one
tenant's log can never stand in for another's, even when both are signed by
the same key), and its body is a valid checkpoint; anything else raises
`IntegrityError`.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from qplane.audit.merkle import HASH_BYTES
from qplane.audit.note import (
    NoteSigner,
    NoteVerifier,
    is_valid_key_name,
    sign_note,
    verify_note,
)
from qplane.domain.errors import IntegrityError

TIME_EXTENSION: Final = "time "
MAX_TREE_SIZE: Final = 2**64 - 1
MAX_TIMESTAMP: Final = 2**63 - 1
_DECIMAL: Final = re.compile(r"0|[1-9][0-9]*")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A verified tree head: the first *size* leaves of *origin*'s log hash to *root_hash*."""

    origin: str
    size: int
    root_hash: bytes
    #: When the log signed it (the ``time`` extension line), to the second; None if absent.
    timestamp: datetime | None = None
    #: Extension lines other than ``time``, as they appeared.
    extensions: tuple[str, ...] = ()


def sign_checkpoint(
    origin: str,
    size: int,
    root_hash: bytes,
    signers: Sequence[NoteSigner],
    *,
    timestamp: datetime | None = None,
) -> str:
    """The signed note of the checkpoint (*origin*, *size*, *root_hash*) by each of *signers*.

    *timestamp*, if given, must be timezone-aware; it is written to the
    second, rounded down. `ValueError` for an origin that is not a valid key
    name (C2SP recommends the log's key name match its origin), a size or
    hash out of range, or no signer.
    """
    if not is_valid_key_name(origin):
        raise ValueError("an origin is non-empty, without spaces or '+'")
    if not 0 <= size <= MAX_TREE_SIZE:
        raise ValueError("a tree size is an unsigned 64-bit integer")
    if len(root_hash) != HASH_BYTES:
        raise ValueError(f"a root hash is {HASH_BYTES} bytes")
    lines = [origin, str(size), base64.b64encode(root_hash).decode("ascii")]
    if timestamp is not None:
        lines.append(f"{TIME_EXTENSION}{_posix_seconds(timestamp)}")
    return sign_note("".join(f"{line}\n" for line in lines), signers)


def parse_and_verify(
    note: str | bytes, verifiers: Sequence[NoteVerifier], *, origin: str
) -> Checkpoint:
    """The checkpoint in *note*, if every one of *verifiers* signed it and it is *origin*'s.

    Signatures by other keys are ignored. Raises `IntegrityError` for a
    malformed note or checkpoint, an invalid or missing required signature,
    or another log's checkpoint.
    """
    checkpoint = _parse_body(verify_note(note, verifiers))
    if checkpoint.origin != origin:
        raise IntegrityError("checkpoint is for another log")
    return checkpoint


def _parse_body(text: str) -> Checkpoint:
    """The checkpoint a verified note text states; `IntegrityError` unless well formed."""
    lines = text.split("\n")[:-1]  # the text ends with a newline
    if len(lines) < 3 or not all(lines):
        raise IntegrityError("malformed checkpoint: three or more non-empty lines expected")
    origin, size_line, root_line, *extensions = lines
    root_hash = _decode_root(root_line)
    timestamps = [line for line in extensions if line.startswith(TIME_EXTENSION)]
    if len(timestamps) > 1:
        raise IntegrityError("malformed checkpoint: more than one time line")
    return Checkpoint(
        origin=origin,
        size=_decimal(size_line, MAX_TREE_SIZE, what="tree size"),
        root_hash=root_hash,
        timestamp=_parse_time(timestamps[0]) if timestamps else None,
        extensions=tuple(line for line in extensions if not line.startswith(TIME_EXTENSION)),
    )


def _decode_root(line: str) -> bytes:
    try:
        root_hash = base64.b64decode(line, validate=True)
    except ValueError:
        raise IntegrityError("malformed checkpoint: root hash is not base64") from None
    if len(root_hash) != HASH_BYTES or base64.b64encode(root_hash).decode("ascii") != line:
        raise IntegrityError(f"malformed checkpoint: root hash is not {HASH_BYTES} bytes")
    return root_hash


def _parse_time(line: str) -> datetime:
    seconds = _decimal(line[len(TIME_EXTENSION) :], MAX_TIMESTAMP, what="time")
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise IntegrityError("malformed checkpoint: time out of range") from None


def _decimal(text: str, maximum: int, *, what: str) -> int:
    # The length check first: int() refuses strings of more than 4300 digits.
    if len(text) > len(str(maximum)) or not _DECIMAL.fullmatch(text) or int(text) > maximum:
        raise IntegrityError(f"malformed checkpoint: bad {what}")
    return int(text)


def _posix_seconds(timestamp: datetime) -> int:
    if timestamp.tzinfo is None:
        raise ValueError("a checkpoint time must be timezone-aware")
    seconds = int(timestamp.timestamp() // 1)
    if not 0 <= seconds <= MAX_TIMESTAMP:
        raise ValueError("a checkpoint time is after the POSIX epoch")
    return seconds
