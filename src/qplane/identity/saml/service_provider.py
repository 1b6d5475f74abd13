"""Our side of SAML: one service provider per tenant, sharing the platform SP key.

Each tenant gets its own SP entity id (``{public_url}/v1/saml/{tenant}/metadata``)
and ACS URL (``{public_url}/v1/saml/{tenant}/acs``). Because the audience and
the recipient are per tenant, an assertion minted for tenant A's SP fails the
audience and recipient checks at tenant B's ACS, whichever IdP signed it.

The SP key is loaded (or created, 0600) on first use, not at start-up, so a
platform that never speaks SAML never generates one.
"""

from __future__ import annotations

import threading
from pathlib import Path

from qplane.identity.saml import _pysaml
from qplane.identity.saml._pysaml import SpEndpoints
from qplane.identity.saml.sp_keys import SpKeyFiles


class ServiceProvider:
    def __init__(self, public_url: str, key_dir: Path, skew_s: int) -> None:
        if not 0 <= skew_s <= 300:
            raise ValueError("skew_s must be between 0 and 300 seconds")
        self._base = public_url.rstrip("/")
        self._key_dir = key_dir
        self._keys: SpKeyFiles | None = None
        self._lock = threading.Lock()
        self.skew_s = skew_s

    @property
    def keys(self) -> SpKeyFiles:
        with self._lock:
            if self._keys is None:
                self._keys = SpKeyFiles.load_or_create(self._key_dir)
            return self._keys

    def endpoints(self, tenant_name: str) -> SpEndpoints:
        prefix = f"{self._base}/v1/saml/{tenant_name}"
        return SpEndpoints(entity_id=f"{prefix}/metadata", acs_url=f"{prefix}/acs")

    def metadata(self, tenant_name: str) -> str:
        """The tenant's SP metadata XML, signed with the SP key."""
        return _pysaml.sp_metadata(self.endpoints(tenant_name), self.keys)
