"""A job's execution log, as the worker saw the run: what happened and when, never the data.

The log becomes an artifact of its own (kind ``log``), sealed under the
tenant's key and authorised apart from the circuit and the result, so it
must never carry either: entries are events with a few scalar fields
(backend, shots, timings, depth, failure reason) and nothing the tenant
submitted or got back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from qplane.domain.jobs import MAX_EXECUTION_LOG_BYTES as MAX_LOG_BYTES

_TRUNCATED: Final = "… log truncated"

Scalar = str | int | float | bool | None


class ExecutionLog:
    """Append-only lines ``<RFC 3339 UTC time> <event> key=value …`` kept within `MAX_LOG_BYTES`."""

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._size = 0
        self._truncated = False

    def note(self, event: str, **fields: Scalar) -> None:
        at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        parts = [at, event, *(f"{key}={_value(value)}" for key, value in fields.items())]
        line = " ".join(parts)
        # Leave room for the truncation marker, so the whole log stays within the limit.
        if self._size + len(line.encode()) + 1 > MAX_LOG_BYTES - len(_TRUNCATED.encode()) - 1:
            self._truncated = True
            return
        self._lines.append(line)
        self._size += len(line.encode()) + 1

    def text(self) -> str:
        lines = [*self._lines, _TRUNCATED] if self._truncated else self._lines
        return "\n".join(lines) + "\n" if lines else ""


def _value(value: Scalar) -> str:
    """One token per field: a value with spaces or newlines is quoted, so lines stay parseable."""
    text = "" if value is None else str(value)
    if not text or any(c.isspace() or c in '"=' for c in text):
        escaped = text.replace("\\", "\\\\").replace('"', '\\"')
        return '"' + escaped.replace("\n", "\\n").replace("\r", "\\r") + '"'
    return text
