"""OpenID Connect single sign-on per tenant (one folder: registration, discovery, login).

* `ProviderRegistry`: tenant admins register their IdP (secret sealed).
* `IssuerDirectory`: discovery documents and JWKS, cached and refreshed.
* `OidcLoginService`: authorization code + PKCE, ID token verification,
  just-in-time provisioning, and a platform session at the end.
"""

from __future__ import annotations

from qplane.identity.oidc.discovery import IssuerDirectory, ProviderMetadata
from qplane.identity.oidc.login import CALLBACK_PATH, OidcLoginService
from qplane.identity.oidc.registry import ProviderRegistry, ProviderSettings

__all__ = [
    "CALLBACK_PATH",
    "IssuerDirectory",
    "OidcLoginService",
    "ProviderMetadata",
    "ProviderRegistry",
    "ProviderSettings",
]
