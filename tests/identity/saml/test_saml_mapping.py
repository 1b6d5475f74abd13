"""Attribute rules, email domains and amr: what an assertion is allowed to grant."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from qplane.domain.errors import Unauthenticated, ValidationFailed
from qplane.domain.saml import AttributeRule, SamlProvider
from qplane.domain.tenancy import Role
from qplane.identity.saml.mapping import (
    amr_for,
    check_role_rules,
    email_for,
    projects_for,
    roles_for,
)

PROVIDER = SamlProvider(
    id="sip_1",
    tenant_id="ten_1",
    entity_id="https://idp.test",
    metadata_xml="",
    metadata_url=None,
    email_attribute="email",
    allowed_domains=("acme.test",),
    role_rules=(
        AttributeRule("groups", "admins", "tenant_admin"),
        AttributeRule("groups", "users", "member"),
    ),
    project_rules=(AttributeRule("groups", "qml", "prj_1"),),
    created_at=datetime.now(UTC),
)


def test_only_matching_rules_grant() -> None:
    attributes = {"groups": ("users", "qml", "unrelated")}
    assert roles_for(PROVIDER, attributes) == frozenset({Role.MEMBER})
    assert projects_for(PROVIDER, attributes) == ("prj_1",)
    assert roles_for(PROVIDER, {"department": ("admins",)}) == frozenset()


def test_email_must_be_in_an_allowed_domain() -> None:
    assert email_for(PROVIDER, {"email": ("Alice@ACME.test",)}, "x") == "alice@acme.test"
    with pytest.raises(Unauthenticated, match="domain"):
        email_for(PROVIDER, {"email": ("alice@acme.test.evil.test",)}, "x")
    with pytest.raises(Unauthenticated, match="domain"):
        email_for(PROVIDER, {}, "mallory@evil.test")  # an email-shaped NameID, wrong domain
    with pytest.raises(Unauthenticated, match="email"):
        email_for(PROVIDER, {"email": ("a@acme.test", "b@acme.test")}, "not-an-email")


def test_role_rules_grant_tenant_roles_only() -> None:
    check_role_rules([AttributeRule("g", "v", "viewer")])
    for grant in ("operator", "root"):
        with pytest.raises(ValidationFailed):
            check_role_rules([AttributeRule("g", "v", grant)])


def test_amr_comes_from_a_fixed_table() -> None:
    assert amr_for("urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport") == ("pwd",)
    assert amr_for("https://refeds.org/profile/mfa") == ("mfa",)
    assert amr_for("urn:example:made-up") == ()
    assert amr_for(None) == ()
