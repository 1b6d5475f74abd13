"""Identifiers: opaque, prefixed, unguessable.

Ids are random (128 bits) rather than sequential so that knowing one job id
tells nothing about another tenant's ids; the prefix makes a pasted id
self-describing in logs and support tickets.
"""

from __future__ import annotations

import re
import secrets
from typing import Final

_ID_PATTERN: Final = re.compile(r"^[a-z]{2,4}_[0-9a-f]{32}$")

TENANT: Final = "ten"
PROJECT: Final = "prj"
PRINCIPAL: Final = "usr"
JOB: Final = "job"
WORKER: Final = "wrk"
LEASE: Final = "lse"
SHRED_REQUEST: Final = "shr"
API_KEY: Final = "key"
CALIBRATION: Final = "cal"
WINDOW: Final = "win"
RESERVATION: Final = "rsv"
BATCH: Final = "bat"


def new_id(prefix: str) -> str:
    """Return a fresh random id such as ``job_0f3c…`` (32 hex digits)."""
    return f"{prefix}_{secrets.token_hex(16)}"


def is_well_formed(value: str, prefix: str | None = None) -> bool:
    """True when *value* has the shape of an id (and the given prefix, if any)."""
    if not _ID_PATTERN.match(value):
        return False
    return prefix is None or value.startswith(prefix + "_")
