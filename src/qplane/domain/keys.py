"""The key hierarchy as the rest of qplane sees it: rings of numbered key-encryption keys.

root key (in a key provider)
  └─ key ring: one per tenant, optionally one per project, in one environment
       └─ KEK version 1, 2, … (the newest active one wraps new data keys)
            └─ data key: one per artifact or secret, stored only wrapped

A ring is named after what it protects, ``<tenant>/*`` or
``<tenant>/<project>``, with ``@<environment>`` appended outside the
default environment; the platform's own secrets (operators' authenticators)
live in ``platform/<purpose>`` rings. Names are deterministic so that a
sealed record needs to store only the ring name and the version, and a
reader can tell from the name alone whom the data belongs to.

Nothing in this module holds key material: a `KekVersion` carries the
provider's *material*, which is the KEK wrapped under the root key for the
local provider or a reference to a non-extractable key object in an HSM.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from qplane.domain.errors import ValidationFailed

DEFAULT_ENVIRONMENT: Final = "default"
TENANT_WIDE: Final = "*"
PLATFORM: Final = "platform"
_ENVIRONMENT: Final = re.compile(r"^[a-z][a-z0-9-]{0,31}$")


class RingState(StrEnum):
    ACTIVE = "active"
    #: Every KEK version destroyed: nothing sealed under the ring can be opened again.
    SHREDDED = "shredded"


class KekState(StrEnum):
    ACTIVE = "active"
    #: Below the ring's minimum decryption version: kept as a record, material erased.
    RETIRED = "retired"
    #: Crypto-shredded with its ring.
    DESTROYED = "destroyed"


def validate_environment(environment: str) -> str:
    if not _ENVIRONMENT.fullmatch(environment):
        raise ValidationFailed(
            "an environment is 1-32 lowercase letters, digits or '-', starting with a letter",
            field="environment",
        )
    return environment


def ring_name(
    owner: str, project_id: str | None = None, environment: str = DEFAULT_ENVIRONMENT
) -> str:
    """The ring protecting *owner*'s data (a tenant id, or ``platform``), per project and env."""
    name = f"{owner}/{project_id or TENANT_WIDE}"
    return name if environment == DEFAULT_ENVIRONMENT else f"{name}@{environment}"


def platform_ring(purpose: str) -> str:
    return f"{PLATFORM}/{purpose}"


@dataclass(frozen=True, slots=True)
class KeyRing:
    name: str
    #: None for the platform's own rings.
    tenant_id: str | None
    project_id: str | None
    environment: str
    #: Which provider new KEK versions of the ring use: ``local``, ``pkcs11`` or ``cmk``.
    provider: str
    created_at: datetime
    #: Versions below this can no longer open anything (retired after rewrapping).
    min_decrypt_version: int = 1
    state: RingState = RingState.ACTIVE
    #: Provider settings that are not secrets (a customer token's label, a key label).
    provider_config: str = ""
    shredded_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class KekVersion:
    ring: str
    version: int
    state: KekState
    created_at: datetime
    #: What the provider needs to use the KEK, never the KEK itself; None once erased.
    material: bytes | None
    #: 1 for KEKs created before rings existed (their associated data did not name
    #: the ring); 2 for every KEK since.
    aad_format: int = 2
    retired_at: datetime | None = None
    #: The provider holding this version (a ring can move to a customer's key by rotating).
    provider: str = "local"
    provider_config: str = ""

    def __repr__(self) -> str:
        return f"KekVersion({self.ring!r}, {self.version}, {self.state.value})"


class ShredState(StrEnum):
    PENDING = "pending"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class ShredRequest:
    """One operator's request to crypto-shred a ring; a second operator must approve it."""

    id: str
    tenant_id: str
    ring: str
    requested_by: str
    requested_at: datetime
    reason: str
    state: ShredState = ShredState.PENDING
    approved_by: str | None = None
    approved_at: datetime | None = None
