"""SAML SSO against a real pysaml2 IdP: the login works, and each forgery is refused.

Every refusal must be a 401 and leave an ``auth.saml`` denial in the tenant's audit chain.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from qplane.bootstrap import Platform
from qplane.domain.audit import Outcome
from qplane.domain.clock import utcnow
from qplane.domain.errors import Unauthenticated
from qplane.domain.ports import AuditQuery
from qplane.domain.saml import SamlLoginRequest
from qplane.identity.browser_binding import secret_digest
from qplane.identity.saml import ServiceProvider, _pysaml
from qplane.identity.saml.login import _digest
from tests.identity.saml.conftest import SamlTenant
from tests.identity.saml.idp import MFA_CLASS, TestIdp


def _denials(platform: Platform, tenant_id: str) -> list[str]:
    query = AuditQuery(log=tenant_id, action="auth.saml", outcome=Outcome.DENIED)
    with platform.database.unit_of_work() as uow:
        return [entry.detail or "" for entry in uow.audit.search(query, 100, None).items]


def _refused(platform: Platform, tenant: SamlTenant, response: httpx.Response, reason: str) -> None:
    assert response.status_code == 401, response.text
    assert "access_token" not in response.text
    assert any(reason in detail for detail in _denials(platform, tenant.tenant.tenant_id)), (
        _denials(platform, tenant.tenant.tenant_id)
    )


def _login(tenant: SamlTenant, **overrides: object) -> httpx.Response:
    request = tenant.start()
    saml_response = tenant.idp.respond(request, tenant.sp_metadata, **overrides)  # type: ignore[arg-type]
    return tenant.post(saml_response, request.relay_state)


def test_happy_path_provisions_the_user_just_in_time(
    platform: Platform, saml_acme: SamlTenant
) -> None:
    response = _login(saml_acme)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["refresh_token"]
    claims = platform.verifier.verify(body["access_token"])
    assert claims.tenant == saml_acme.tenant.tenant_id
    assert claims.amr == ("pwd",)
    me = saml_acme.client.get("/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json()["roles"] == ["member"]
    with platform.database.unit_of_work() as uow:
        found = uow.principals.for_login("alice@acme.test")
    assert found is not None
    assert found[1] is None  # no password: SAML only
    assert found[0].id == claims.sub

    again = _login(saml_acme)  # the same (IdP, NameID) logs into the same principal
    assert again.status_code == 200, again.text
    assert platform.verifier.verify(again.json()["access_token"]).sub == claims.sub


def test_mfa_at_the_idp_is_carried_into_the_token(
    platform: Platform, saml_acme: SamlTenant
) -> None:
    response = _login(saml_acme, authn_class=MFA_CLASS)
    assert response.status_code == 200, response.text
    claims = platform.verifier.verify(response.json()["access_token"])
    assert "mfa" in claims.amr
    assert claims.acr == MFA_CLASS


def test_unsigned_assertion_is_refused(platform: Platform, saml_acme: SamlTenant) -> None:
    response = _login(saml_acme, sign_assertion=False)
    _refused(platform, saml_acme, response, "signature missing or invalid")


def test_signed_response_around_an_unsigned_assertion_is_refused(
    platform: Platform, saml_acme: SamlTenant
) -> None:
    response = _login(saml_acme, sign_assertion=False, sign_response=True)
    _refused(platform, saml_acme, response, "signature missing or invalid")


def test_assertion_signed_by_another_key_is_refused(
    platform: Platform, saml_acme: SamlTenant, tmp_path
) -> None:
    impostor = TestIdp(saml_acme.idp.entity_id, tmp_path / "impostor")  # same name, other key
    request = saml_acme.start()
    forged = impostor.respond(request, saml_acme.sp_metadata)
    response = saml_acme.post(forged, request.relay_state)
    _refused(platform, saml_acme, response, "signature missing or invalid")


def test_wrong_audience_is_refused(platform: Platform, saml_acme: SamlTenant) -> None:
    response = _login(saml_acme, audience="https://other-sp.test/metadata")
    _refused(platform, saml_acme, response, "audience is not this service provider")


def test_wrong_recipient_is_refused(platform: Platform, saml_acme: SamlTenant) -> None:
    response = _login(saml_acme, destination="http://testserver/v1/saml/globex/acs")
    _refused(platform, saml_acme, response, "destination")


def test_wrong_bearer_recipient_is_refused_even_with_the_right_destination(
    platform: Platform, saml_acme: SamlTenant
) -> None:
    response = _login(saml_acme, recipient="http://testserver/v1/saml/globex/acs")
    _refused(platform, saml_acme, response, "recipient is not this service provider")


def test_expired_assertion_is_refused(platform: Platform, saml_acme: SamlTenant) -> None:
    saml_acme.idp.lifetime_minutes = -10
    _refused(platform, saml_acme, _login(saml_acme), "conditions or subject confirmation")


def test_our_own_validity_check_refuses_what_pysaml2_would_let_through(
    platform: Platform, saml_acme: SamlTenant
) -> None:
    """NotOnOrAfter is checked again on our clock, independent of pysaml2's."""
    sp = ServiceProvider(platform.settings.issuer, platform.settings.key_dir, 60)
    request = saml_acme.start()
    saml_response = saml_acme.idp.respond(request, saml_acme.sp_metadata)
    with pytest.raises(Unauthenticated, match="expired"):
        _pysaml.verify_response(
            sp.endpoints("acme"),
            sp.keys,
            saml_acme.idp.metadata,
            saml_acme.idp.entity_id,
            saml_response,
            request.request_id,
            60,
            lambda: utcnow() + timedelta(minutes=30),
        )


def test_replayed_response_is_refused(platform: Platform, saml_acme: SamlTenant) -> None:
    request = saml_acme.start()
    saml_response = saml_acme.idp.respond(request, saml_acme.sp_metadata)
    assert saml_acme.post(saml_response, request.relay_state).status_code == 200
    replay = saml_acme.post(saml_response, request.relay_state)
    _refused(platform, saml_acme, replay, "SAML login request unknown, used or expired")


def test_replayed_assertion_is_refused_even_if_its_request_were_still_open(
    platform: Platform, saml_acme: SamlTenant
) -> None:
    """The assertion-id store catches a replay that the single-use RelayState would not
    (another server that still had the request open)."""
    request = saml_acme.start()
    binding = saml_acme.client.cookies.get("qplane-saml")  # this browser's: only replay is left
    assert binding
    saml_response = saml_acme.idp.respond(request, saml_acme.sp_metadata)
    assert saml_acme.post(saml_response, request.relay_state).status_code == 200
    saml_acme.client.cookies.set("qplane-saml", binding, path=f"/v1/saml/{saml_acme.name}")
    reopened = SamlLoginRequest(
        request.relay_state,
        request.request_id,
        saml_acme.tenant.tenant_id,
        saml_acme.provider_id,
        utcnow() + timedelta(minutes=5),
        binding_hash=secret_digest(binding),
    )
    with platform.database.unit_of_work() as uow:
        uow.saml_requests.add(reopened, _digest(request.relay_state))
        uow.commit()
    replay = saml_acme.post(saml_response, request.relay_state)
    _refused(platform, saml_acme, replay, "replay")


def test_tenant_a_idp_cannot_log_into_tenant_b(
    platform: Platform, saml_acme: SamlTenant, saml_globex: SamlTenant
) -> None:
    # acme's IdP answers globex's own request, for globex's SP: wrong signer for globex.
    request_b = saml_globex.start()
    forged = saml_acme.idp.respond(
        request_b,
        saml_globex.sp_metadata,
        attributes={"email": ["eve@globex.test"], "groups": ["quantum-admins"]},
    )
    response = saml_globex.post(forged, request_b.relay_state)
    _refused(platform, saml_globex, response, "issuer is not the registered IdP")
    # acme's genuine response (and acme's RelayState) posted to globex's ACS.
    request_a = saml_acme.start()
    genuine = saml_acme.idp.respond(request_a, saml_acme.sp_metadata)
    _refused(
        platform,
        saml_globex,
        saml_globex.post(genuine, request_a.relay_state),
        "SAML login request",
    )
    # the misrouted post did not touch acme's pending request: acme's user still gets in
    assert saml_acme.post(genuine, request_a.relay_state).status_code == 200


def test_user_who_no_longer_maps_is_refused_and_loses_roles(
    platform: Platform, saml_acme: SamlTenant
) -> None:
    first = _login(saml_acme)
    assert first.status_code == 200, first.text
    token = first.json()["access_token"]
    attributes = {"email": ["alice@acme.test"], "groups": ["marketing"]}
    _refused(platform, saml_acme, _login(saml_acme, attributes=attributes), "no longer maps")
    me = saml_acme.client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["roles"] == []


def test_email_outside_the_allowed_domains_is_refused(
    platform: Platform, saml_acme: SamlTenant
) -> None:
    attributes = {"email": ["mallory@evil.test"], "groups": ["quantum-users"]}
    _refused(platform, saml_acme, _login(saml_acme, attributes=attributes), "domain")


def test_an_existing_local_account_is_never_taken_over(
    platform: Platform, saml_acme: SamlTenant
) -> None:
    attributes = {"email": [saml_acme.tenant.email], "groups": ["quantum-admins"]}
    _refused(platform, saml_acme, _login(saml_acme, attributes=attributes), "another account")


def test_login_success_is_audited(platform: Platform, saml_acme: SamlTenant) -> None:
    assert _login(saml_acme).status_code == 200
    query = AuditQuery(log=saml_acme.tenant.tenant_id, action="auth.saml")
    with platform.database.unit_of_work() as uow:
        entries = uow.audit.search(query, 10, None).items
    assert [e.outcome for e in entries] == [Outcome.SUCCESS]
