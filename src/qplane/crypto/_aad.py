"""Canonical, unambiguous encoding of associated data (AAD).

Security property: two different field lists never encode to the same bytes.
Every item is tagged with its type and prefixed with its length (4 bytes,
big-endian), and the first item is a label that names the purpose and the
format version, so AAD made for one purpose (say, wrapping a tenant key) can
never be replayed as AAD for another (wrapping a data key).
"""

from __future__ import annotations

import struct
from typing import Final

_MAX_ITEM: Final = 2**32 - 1


def encode_aad(label: str, *fields: str | int | bytes) -> bytes:
    """Encode *label* and *fields* as tagged, length-prefixed items."""
    parts = [_item(b"l", label.encode("utf-8"))]
    for value in fields:
        parts.append(_field(value))
    return b"".join(parts)


def _field(value: str | int | bytes) -> bytes:
    # bool is an int subclass; refusing it keeps True from aliasing 1.
    if isinstance(value, bool):
        raise TypeError("booleans are not valid AAD fields")
    if isinstance(value, int):
        return _item(b"i", value.to_bytes(8, "big", signed=True))
    if isinstance(value, str):
        return _item(b"s", value.encode("utf-8"))
    return _item(b"b", bytes(value))


def _item(tag: bytes, data: bytes) -> bytes:
    if len(data) > _MAX_ITEM:
        raise ValueError("AAD field too long")
    return tag + struct.pack(">I", len(data)) + data
