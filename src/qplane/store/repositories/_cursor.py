"""Opaque keyset-pagination cursors.

A cursor is the sort key of the last item of a page, JSON-encoded and then
base64url'd: opaque to callers (who must not build or edit them) yet
stateless for the server. A cursor only narrows a query that is already
tenant-scoped, so a forged one can reveal nothing; a malformed one is a
`ValidationFailed`, never a server error.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from qplane.domain.errors import ValidationFailed


def encode_cursor(at: datetime, *keys: str | int) -> str:
    raw = json.dumps([at.isoformat(), *keys], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *types: type[str] | type[int]) -> tuple[datetime, list[str | int]]:
    """Decode a cursor made by `encode_cursor` with keys of the given *types*."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parts = json.loads(raw)
        if not isinstance(parts, list) or len(parts) != len(types) + 1:
            raise ValueError("wrong shape")
        at = datetime.fromisoformat(parts[0])
        if at.tzinfo is None:
            raise ValueError("naive time")
        keys = parts[1:]
        for value, kind in zip(keys, types, strict=True):
            if type(value) is not kind:
                raise ValueError("wrong key type")
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ValidationFailed("page cursor is not valid", field="cursor") from None
    return at, keys
