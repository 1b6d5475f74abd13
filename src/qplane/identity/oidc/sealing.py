"""The IdP client secret at rest: sealed under the tenant's key, bound to its provider.

The binding (tenant, provider id, kind ``idp.client_secret``) is sealed into
the ciphertext's associated data, so a secret copied to another provider row
or another tenant fails to open with `IntegrityError`, and can never be
opened as a job artifact (job ids and kinds differ). The plaintext exists
only in memory for the token request that needs it.
"""

from __future__ import annotations

from typing import Final

from qplane.crypto.envelope import ArtifactBinding
from qplane.crypto.hierarchy import KeyHierarchy
from qplane.crypto.secret_bytes import SecretBytes
from qplane.domain.ports import SealedArtifact, UnitOfWork

KIND: Final = "idp.client_secret"
_NO_PROJECT: Final = "-"  # provider secrets belong to the tenant, not to a project


def _binding(tenant_id: str, provider_id: str) -> ArtifactBinding:
    return ArtifactBinding(tenant_id, _NO_PROJECT, provider_id, KIND)


def seal_client_secret(
    keys: KeyHierarchy, uow: UnitOfWork, tenant_id: str, provider_id: str, secret: str
) -> SealedArtifact:
    """Encrypt *secret* for this provider of this tenant."""
    return keys.seal(uow, secret.encode("utf-8"), _binding(tenant_id, provider_id))


def open_client_secret(
    keys: KeyHierarchy, uow: UnitOfWork, tenant_id: str, provider_id: str
) -> SecretBytes:
    """The provider's client secret; `IntegrityError` if the stored value was moved or altered."""
    sealed = uow.oidc_providers.sealed_secret(tenant_id, provider_id)
    return SecretBytes(keys.open(uow, sealed, _binding(tenant_id, provider_id)))
