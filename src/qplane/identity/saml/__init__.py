"""SAML 2.0 single sign-on per tenant (pysaml2 + xmlsec1; no hand-written XML signatures).

* `providers.SamlProviderService` — tenant admins register, list and delete
  their IdPs (metadata, attribute → role/project rules, allowed domains);
  changes are privileged decisions (a recent second factor, RFC 9470 step-up).
* `login.SamlLoginService` — ``begin`` (AuthnRequest, HTTP-Redirect, RelayState
  bound to a single-use server-side request) and ``complete`` (ACS, HTTP-POST:
  verify, refuse replays, provision just in time, start a session).
* `service_provider.ServiceProvider` — per-tenant SP entity id, ACS URL, metadata.
* `_pysaml` — the only module that calls pysaml2; its checks are listed there.
"""

from qplane.identity.saml.login import SamlLoginService
from qplane.identity.saml.providers import ProviderRegistration, SamlProviderService
from qplane.identity.saml.service_provider import ServiceProvider
from qplane.identity.saml.sp_keys import SpKeyFiles

__all__ = [
    "ProviderRegistration",
    "SamlLoginService",
    "SamlProviderService",
    "ServiceProvider",
    "SpKeyFiles",
]
