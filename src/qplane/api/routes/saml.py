"""SAML 2.0 single sign-on per tenant: IdP registration (tenant admins) and the SP endpoints.

The SP endpoints need no token: ``metadata`` and ``login`` start nothing
but a single-use request bound to the browser by a cookie, and ``acs``
accepts only a response that `qplane.identity.saml` verifies in full, from
the browser holding that cookie.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Final
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from qplane.api import browser
from qplane.api.deps import ActorDep, PlatformDep
from qplane.api.schemas import TokenResponse
from qplane.domain.errors import Unauthenticated, ValidationFailed
from qplane.domain.saml import AttributeRule, SamlProvider
from qplane.identity.saml import ProviderRegistration

router = APIRouter(tags=["saml"])

_FORM: Final = "application/x-www-form-urlencoded"
_MAX_FORM_BYTES: Final = 512 * 1024


class RoleMapping(BaseModel):
    attribute: str = Field(min_length=1, max_length=255)
    value: str = Field(min_length=1, max_length=1024)
    role: str


class ProjectMapping(BaseModel):
    attribute: str = Field(min_length=1, max_length=255)
    value: str = Field(min_length=1, max_length=1024)
    project_id: str = Field(max_length=40)


class SamlProviderCreate(BaseModel):
    metadata_xml: str | None = Field(default=None, max_length=1024 * 1024)
    metadata_url: str | None = Field(default=None, max_length=2048)
    allowed_domains: list[str] = Field(min_length=1, max_length=50)
    role_mappings: list[RoleMapping] = Field(min_length=1, max_length=100)
    project_mappings: list[ProjectMapping] = Field(default_factory=list, max_length=100)
    email_attribute: str = Field(default="email", min_length=1, max_length=255)

    def registration(self) -> ProviderRegistration:
        return ProviderRegistration(
            metadata_xml=self.metadata_xml,
            metadata_url=self.metadata_url,
            allowed_domains=tuple(self.allowed_domains),
            role_rules=tuple(
                AttributeRule(m.attribute, m.value, m.role) for m in self.role_mappings
            ),
            project_rules=tuple(
                AttributeRule(m.attribute, m.value, m.project_id) for m in self.project_mappings
            ),
            email_attribute=self.email_attribute,
        )


class SamlProviderOut(BaseModel):
    id: str
    tenant_id: str
    entity_id: str
    metadata_url: str | None
    allowed_domains: list[str]
    role_mappings: list[RoleMapping]
    project_mappings: list[ProjectMapping]
    email_attribute: str
    created_at: datetime

    @classmethod
    def of(cls, p: SamlProvider) -> SamlProviderOut:
        return cls(
            id=p.id,
            tenant_id=p.tenant_id,
            entity_id=p.entity_id,
            metadata_url=p.metadata_url,
            allowed_domains=list(p.allowed_domains),
            role_mappings=[
                RoleMapping(attribute=r.attribute, value=r.value, role=r.grant)
                for r in p.role_rules
            ],
            project_mappings=[
                ProjectMapping(attribute=r.attribute, value=r.value, project_id=r.grant)
                for r in p.project_rules
            ],
            email_attribute=p.email_attribute,
            created_at=p.created_at,
        )


@router.post("/v1/tenants/{tenant_id}/saml-providers", status_code=status.HTTP_201_CREATED)
def register_provider(
    tenant_id: str, body: SamlProviderCreate, actor: ActorDep, qp: PlatformDep
) -> SamlProviderOut:
    """Register a SAML IdP for the tenant (tenant admin, recent MFA)."""
    return SamlProviderOut.of(qp.saml_providers.register(actor, tenant_id, body.registration()))


@router.get("/v1/tenants/{tenant_id}/saml-providers")
def list_providers(tenant_id: str, actor: ActorDep, qp: PlatformDep) -> list[SamlProviderOut]:
    return [SamlProviderOut.of(p) for p in qp.saml_providers.list(actor, tenant_id)]


@router.delete(
    "/v1/tenants/{tenant_id}/saml-providers/{provider_id}",
    status_code=status.HTTP_204_NO_CONTENT,
)
def delete_provider(tenant_id: str, provider_id: str, actor: ActorDep, qp: PlatformDep) -> None:
    """Remove a SAML IdP (tenant admin, recent MFA); its users can no longer log in through it."""
    qp.saml_providers.delete(actor, tenant_id, provider_id)


@router.get("/v1/saml/{tenant_name}/metadata")
def sp_metadata(tenant_name: str, qp: PlatformDep) -> Response:
    """The tenant's signed SP metadata, for the IdP administrator (once an IdP is registered)."""
    xml = qp.saml.metadata(tenant_name)
    return Response(content=xml, media_type="application/samlmetadata+xml")


@router.get("/v1/saml/{tenant_name}/login")
def start_login(
    tenant_name: str,
    qp: PlatformDep,
    provider: str | None = Query(default=None, max_length=64),
) -> RedirectResponse:
    """Redirect the browser to the IdP with a signed AuthnRequest (HTTP-Redirect binding).

    Sets the login's binding cookie (`qplane.api.browser`; ``SameSite=None``
    over https, since the IdP's answer is a cross-site POST).
    """
    started = qp.saml.begin(tenant_name, provider)
    response = RedirectResponse(started.url, status_code=status.HTTP_302_FOUND)
    browser.saml_binding(qp.settings, tenant_name).set(response, started.binding)
    return response


async def _acs_form(request: Request) -> dict[str, str]:
    """The HTTP-POST binding's two fields, parsed without a multipart dependency."""
    if request.headers.get("content-type", "").split(";")[0].strip() != _FORM:
        raise ValidationFailed("expected an HTML form post (HTTP-POST binding)")
    body = await request.body()
    if len(body) > _MAX_FORM_BYTES:
        raise ValidationFailed("SAML response too large")
    fields = parse_qs(body.decode("ascii", errors="replace"), max_num_fields=10)
    return {name: values[0] for name, values in fields.items() if len(values) == 1}


@router.post("/v1/saml/{tenant_name}/acs", response_model=TokenResponse)
def assertion_consumer(
    tenant_name: str,
    request: Request,
    form: Annotated[dict[str, str], Depends(_acs_form)],
    qp: PlatformDep,
) -> Response:
    """Verify the IdP's response and answer with platform tokens.

    Refused (401, audited) without the binding cookie of the login the
    RelayState names; an unknown tenant is refused like an unknown
    RelayState. A login started by the device page goes back there.
    """
    response, relay_state = form.get("SAMLResponse"), form.get("RelayState")
    if not response or not relay_state:
        raise Unauthenticated("SAMLResponse and RelayState are required")
    cookie = browser.saml_binding(qp.settings, tenant_name)
    outcome = qp.saml.complete(
        tenant_name, response, relay_state, cookie.read(request), request.state.request_id
    )
    answer = browser.sso_answer(outcome)
    cookie.clear(answer)
    return answer
