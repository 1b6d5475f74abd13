"""OpenID Connect single sign-on per tenant: IdP administration, login and callback.

Administration needs a tenant admin's token (and, being privileged, a recent
MFA). The login and callback are public: the browser carries no token yet,
and the server-side flow (single-use ``state``, bound to the browser by a
cookie) is what ties the two.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from qplane.api import browser
from qplane.api.deps import ActorDep, PlatformDep
from qplane.api.schemas import Strict, TokenResponse
from qplane.domain.oidc import IdentityProvider, ProjectMapping, RoleMapping
from qplane.identity.oidc import ProviderSettings

router = APIRouter()
_IDPS = "/v1/tenants/{tenant_id}/identity-providers"


class RoleMappingIn(Strict):
    claim: str = Field(default="groups", max_length=100)
    value: str = Field(max_length=500)
    roles: list[str] = Field(min_length=1, max_length=3)


class ProjectMappingIn(Strict):
    claim: str = Field(default="groups", max_length=100)
    value: str = Field(max_length=500)
    project_id: str = Field(max_length=40)


class IdentityProviderIn(Strict):
    """Registration: every field but the mappings is required. The secret is write-only."""

    name: str = Field(max_length=63)
    issuer: str = Field(max_length=2048)
    client_id: str = Field(max_length=255)
    client_secret: str = Field(max_length=1024, repr=False)
    allowed_domains: list[str] = Field(min_length=1, max_length=50)
    role_mappings: list[RoleMappingIn] = Field(default_factory=list, max_length=100)
    project_mappings: list[ProjectMappingIn] = Field(default_factory=list, max_length=100)
    token_auth_method: str | None = Field(default=None, max_length=32)


class IdentityProviderPatch(Strict):
    """A partial update: fields left out keep their value."""

    name: str | None = Field(default=None, max_length=63)
    issuer: str | None = Field(default=None, max_length=2048)
    client_id: str | None = Field(default=None, max_length=255)
    client_secret: str | None = Field(default=None, max_length=1024, repr=False)
    allowed_domains: list[str] | None = Field(default=None, max_length=50)
    role_mappings: list[RoleMappingIn] | None = Field(default=None, max_length=100)
    project_mappings: list[ProjectMappingIn] | None = Field(default=None, max_length=100)
    token_auth_method: str | None = Field(default=None, max_length=32)


class IdentityProviderOut(BaseModel):
    """A registered provider. There is no secret field: secrets are never echoed."""

    id: str
    tenant_id: str
    name: str
    issuer: str
    client_id: str
    token_auth_method: str | None
    client_secret_set: bool = True
    allowed_domains: list[str]
    role_mappings: list[RoleMappingIn]
    project_mappings: list[ProjectMappingIn]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, idp: IdentityProvider) -> IdentityProviderOut:
        return cls(
            id=idp.id,
            tenant_id=idp.tenant_id,
            name=idp.name,
            issuer=idp.issuer,
            client_id=idp.client_id,
            token_auth_method=idp.token_auth_method,
            allowed_domains=list(idp.allowed_domains),
            role_mappings=[
                RoleMappingIn(claim=m.claim, value=m.value, roles=sorted(m.roles))
                for m in idp.role_mappings
            ],
            project_mappings=[
                ProjectMappingIn(claim=m.claim, value=m.value, project_id=m.project_id)
                for m in idp.project_mappings
            ],
            created_at=idp.created_at,
            updated_at=idp.updated_at,
        )


def _settings(body: IdentityProviderIn | IdentityProviderPatch) -> ProviderSettings:
    roles = body.role_mappings
    projects = body.project_mappings
    return ProviderSettings(
        name=body.name,
        issuer=body.issuer,
        client_id=body.client_id,
        client_secret=body.client_secret,
        allowed_domains=body.allowed_domains,
        token_auth_method=body.token_auth_method,
        role_mappings=None
        if roles is None
        else [RoleMapping(m.claim, m.value, frozenset(m.roles)) for m in roles],
        project_mappings=None
        if projects is None
        else [ProjectMapping(m.claim, m.value, m.project_id) for m in projects],
    )


@router.post(_IDPS, status_code=status.HTTP_201_CREATED, tags=["sso"])
def register_provider(
    tenant_id: str, body: IdentityProviderIn, actor: ActorDep, qp: PlatformDep
) -> IdentityProviderOut:
    return IdentityProviderOut.of(qp.oidc_providers.register(actor, tenant_id, _settings(body)))


@router.get(_IDPS, tags=["sso"])
def list_providers(tenant_id: str, actor: ActorDep, qp: PlatformDep) -> list[IdentityProviderOut]:
    return [IdentityProviderOut.of(p) for p in qp.oidc_providers.list(actor, tenant_id)]


@router.get(_IDPS + "/{provider_id}", tags=["sso"])
def get_provider(
    tenant_id: str, provider_id: str, actor: ActorDep, qp: PlatformDep
) -> IdentityProviderOut:
    return IdentityProviderOut.of(qp.oidc_providers.get(actor, tenant_id, provider_id))


@router.patch(_IDPS + "/{provider_id}", tags=["sso"])
def update_provider(
    tenant_id: str,
    provider_id: str,
    body: IdentityProviderPatch,
    actor: ActorDep,
    qp: PlatformDep,
) -> IdentityProviderOut:
    changed = qp.oidc_providers.update(actor, tenant_id, provider_id, _settings(body))
    return IdentityProviderOut.of(changed)


@router.delete(_IDPS + "/{provider_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["sso"])
def remove_provider(tenant_id: str, provider_id: str, actor: ActorDep, qp: PlatformDep) -> Response:
    qp.oidc_providers.remove(actor, tenant_id, provider_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/v1/sso/{tenant_name}/login", tags=["sso"], response_class=RedirectResponse)
def sso_login(
    tenant_name: str,
    qp: PlatformDep,
    provider: str | None = Query(default=None, max_length=63),
) -> RedirectResponse:
    """Send the browser to the tenant's IdP (authorization code flow with PKCE).

    Sets the login's binding cookie (`qplane.api.browser`): only this
    browser can finish the login. An unknown tenant answers exactly as a
    tenant without (that) provider.
    """
    started = qp.oidc.begin(tenant_name, provider)
    response = RedirectResponse(started.url, status_code=302)
    browser.oidc_binding(qp.settings).set(response, started.binding)
    return response


@router.get("/v1/sso/callback", tags=["sso"], response_model=TokenResponse)
def sso_callback(
    request: Request,
    qp: PlatformDep,
    state: str | None = Query(default=None, max_length=512),
    code: str | None = Query(default=None, max_length=4096),
    error: str | None = Query(default=None, max_length=200),
) -> Response:
    """Where the IdP sends the browser back: answers the platform tokens once.

    Refused (401, audited) without the binding cookie of the login that
    ``state`` names. A login started by the device page goes back there.
    The cookie is cleared once the login succeeded.
    """
    cookie = browser.oidc_binding(qp.settings)
    outcome = qp.oidc.complete(
        state=state,
        code=code,
        error=error,
        binding=cookie.read(request),
        request_id=request.state.request_id,
    )
    response = browser.sso_answer(outcome)
    cookie.clear(response)
    return response
