"""Sealing TOTP secrets at rest with the envelope scheme of `qplane.crypto.envelope`.

A tenant user's secret is sealed under the tenant's key-encryption key, so
crypto-shredding a tenant also destroys its users' authenticators. Operators
belong to no tenant: their secrets are sealed under a *platform* KEK
(owner `PLATFORM_OWNER`), wrapped by the same root key through the same
key hierarchy in the ring ``platform/mfa`` — never under some tenant's key.

The binding (AAD) names the owner, the principal and the purpose
(``project_id="mfa"``, ``kind="totp-secret"``; real project ids are always
``prj_…``, so no job artifact can collide), so a sealed secret copied to
another principal's row fails to open with `IntegrityError`.
"""

from __future__ import annotations

from typing import Final

from qplane.crypto.envelope import ArtifactBinding
from qplane.crypto.hierarchy import KeyHierarchy
from qplane.domain.ports import SealedArtifact, UnitOfWork

PLATFORM_OWNER: Final = "platform"
_PURPOSE: Final = "mfa"
_KIND: Final = "totp-secret"


def seal_secret(
    keys: KeyHierarchy, uow: UnitOfWork, tenant_id: str | None, principal_id: str, secret: str
) -> SealedArtifact:
    ring = None if tenant_id is not None else keys.platform_ring(uow, _PURPOSE)
    return keys.seal(uow, secret.encode(), _binding(tenant_id, principal_id), ring=ring)


def open_secret(
    keys: KeyHierarchy,
    uow: UnitOfWork,
    tenant_id: str | None,
    principal_id: str,
    sealed: SealedArtifact,
) -> str:
    return keys.open(uow, sealed, _binding(tenant_id, principal_id)).decode()


def _binding(tenant_id: str | None, principal_id: str) -> ArtifactBinding:
    return ArtifactBinding(tenant_id or PLATFORM_OWNER, _PURPOSE, principal_id, _KIND)
