"""The bytes of an audit entry: what its Merkle leaf hashes, and what an export carries.

An entry is one canonical JSON object: keys sorted, no whitespace, ASCII
only, integers and strings and null and lists of them, never a float.
The leaf hash is RFC 9162's ``SHA-256(0x00 || those bytes)``, so anyone
holding an exported entry can recompute it with any JSON library that can
sort keys, without qplane's code. The object names its log and its leaf
index, so an entry cannot be moved to another log or position unnoticed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Final

from qplane.audit.merkle import leaf_hash
from qplane.domain.audit import AuditEntry, Outcome
from qplane.domain.errors import IntegrityError

#: The entry format; bumped if a field is added, so old leaves keep their meaning.
ENTRY_FORMAT: Final = 2

_FIELDS: Final = (
    "action",
    "actor_id",
    "actor_kind",
    "auth_method",
    "backend",
    "clock",
    "decision",
    "detail",
    "elevation_id",
    "job_id",
    "request_id",
    "source_ip",
    "target",
    "tenant_id",
)


def rfc3339(at: datetime) -> str:
    """UTC, microseconds, 'Z': one spelling per instant, so the bytes are stable."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_rfc3339(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def to_record(entry: AuditEntry) -> dict[str, Any]:
    """The entry as the JSON object its leaf covers."""
    record: dict[str, Any] = {name: getattr(entry, name) for name in _FIELDS}
    record.update(
        v=ENTRY_FORMAT,
        log=entry.log,
        index=entry.index,
        at=rfc3339(entry.at),
        outcome=entry.outcome.value,
        policy_ids=list(entry.policy_ids),
        correlations={name: digest for name, digest in entry.correlations},
    )
    return record


def canonical(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def entry_bytes(entry: AuditEntry) -> bytes:
    return canonical(to_record(entry))


def entry_leaf(entry: AuditEntry) -> bytes:
    """The entry's RFC 9162 leaf hash."""
    return leaf_hash(entry_bytes(entry))


def from_record(record: object) -> AuditEntry:
    """The entry an exported record states; `IntegrityError` unless it is well formed."""
    try:
        if not isinstance(record, dict) or record.get("v") != ENTRY_FORMAT:
            raise ValueError("unknown entry format")
        fields: dict[str, Any] = {name: _optional_text(record[name]) for name in _FIELDS}
        fields["clock"] = fields["clock"] or ""
        fields["action"] = fields["action"] or ""
        correlations = record["correlations"]
        policy_ids = record["policy_ids"]
        if not isinstance(correlations, dict) or not isinstance(policy_ids, list):
            raise ValueError("malformed lists")
        entry = AuditEntry(
            log=_text(record["log"]),
            index=_index(record["index"]),
            at=parse_rfc3339(_text(record["at"])),
            outcome=Outcome(record["outcome"]),
            policy_ids=tuple(_text(p) for p in policy_ids),
            correlations=tuple((_text(k), _text(v)) for k, v in sorted(correlations.items())),
            **fields,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise IntegrityError(f"malformed audit entry: {exc}") from None
    if set(record) != set(to_record(entry)):
        raise IntegrityError("malformed audit entry: unexpected or missing fields")
    return entry


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value


def _optional_text(value: object) -> str | None:
    return None if value is None else _text(value)


def _index(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise TypeError("expected a leaf index")
    return value
