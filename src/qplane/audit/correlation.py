"""Keyed digests of sensitive values, so audit entries correlate them without holding them.

A circuit, a result or an IdP secret never enters the log. Where an entry
must let an auditor see that two jobs ran the same circuit, it carries
``HMAC-SHA256(tenant audit key, label ‖ what ‖ value)`` instead.

Security properties:

* Each tenant has its own random 256-bit audit key, created on first use
  and stored only sealed under the tenant's key ring (binding
  ``(tenant, "audit", tenant, "audit-key")``), so rotation rewraps it,
  retiring a version counts it and a crypto-shred destroys it with the
  rest of the tenant's data.
* Equal values of one tenant give equal digests; another tenant's digest of
  the same value differs, and without the key no digest can be computed to
  test a guess (unlike a plain hash of a short or well-known circuit).
* *what* is part of the MAC input, length-prefixed, so a circuit and a
  result with the same bytes never share a digest.
* The key is opened for each use and never cached: a cached key would
  outlive a crypto-shred in some server's memory.
* After a shred the key cannot be opened: correlation fails closed, the
  entry says `UNAVAILABLE` for the value, and the job path carries on.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import struct
from collections.abc import Sequence
from typing import Final

from qplane.crypto.envelope import ArtifactBinding
from qplane.crypto.errors import KeyUnavailable
from qplane.crypto.hierarchy import KeyHierarchy
from qplane.crypto.secret_bytes import SecretBytes
from qplane.domain.clock import utcnow
from qplane.domain.ports import SealedArtifact, UnitOfWork

DIGEST_PREFIX: Final = "hmac-sha256:"
#: Recorded instead of a digest when the tenant's audit key can no longer be opened.
UNAVAILABLE: Final = "unavailable"
#: The binding's project and kind; mirrored by `qplane.store.repositories.audit_keys`.
PURPOSE: Final = "audit"
KIND: Final = "audit-key"
_KEY_BYTES: Final = 32
_LABEL: Final = b"qplane/audit-correlation/v1"


class Correlator:
    """Computes tenants' correlation digests inside the caller's unit of work."""

    def __init__(self, keys: KeyHierarchy) -> None:
        self._keys = keys

    def digest(self, uow: UnitOfWork, tenant_id: str, what: str, value: bytes) -> str:
        """``hmac-sha256:<hex>`` of *value* as a *what* of *tenant_id*, or `UNAVAILABLE`."""
        return self.digests(uow, tenant_id, [(what, value)])[0][1]

    def digests(
        self, uow: UnitOfWork, tenant_id: str, values: Sequence[tuple[str, bytes]]
    ) -> tuple[tuple[str, str], ...]:
        """(what, digest) for each (what, value), opening the tenant's key once."""
        key = self._key(uow, tenant_id)
        if key is None:
            return tuple((what, UNAVAILABLE) for what, _ in values)
        return tuple((what, _mac(key, what, value)) for what, value in values)

    def _key(self, uow: UnitOfWork, tenant_id: str) -> SecretBytes | None:
        """The tenant's audit key (created on first use); None once it cannot be opened."""
        binding = ArtifactBinding(tenant_id, PURPOSE, tenant_id, KIND)
        try:
            sealed = uow.audit_keys.get(tenant_id)
            if sealed is None:
                sealed = self._create(uow, binding)
            return SecretBytes(self._keys.open(uow, sealed, binding))
        except KeyUnavailable:
            return None

    def _create(self, uow: UnitOfWork, binding: ArtifactBinding) -> SealedArtifact:
        fresh = self._keys.seal(uow, secrets.token_bytes(_KEY_BYTES), binding)
        # Two first uses may race: whichever key was stored first is everyone's.
        return uow.audit_keys.add_if_absent(binding.tenant_id, fresh, utcnow())


def _mac(key: SecretBytes, what: str, value: bytes) -> str:
    name = what.encode("utf-8")
    message = _LABEL + struct.pack(">I", len(name)) + name + value
    return DIGEST_PREFIX + hmac.new(key.reveal(), message, hashlib.sha256).hexdigest()
