"""Claim-to-role and group-to-project mappings, and the email-domain rule."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from qplane.domain.errors import ValidationFailed
from qplane.domain.oidc import IdentityProvider, ProjectMapping, RoleMapping, normalise_domains

NOW = datetime(2026, 1, 1, tzinfo=UTC)
PROVIDER = IdentityProvider(
    id="idp_1",
    tenant_id="ten_1",
    name="corp",
    issuer="https://idp.acme.test",
    client_id="qplane",
    allowed_domains=("acme.com",),
    role_mappings=(
        RoleMapping("groups", "qplane-admins", frozenset({"tenant_admin", "member"})),
        RoleMapping("groups", "qplane-users", frozenset({"member"})),
        RoleMapping("department", "audit", frozenset({"viewer"})),
    ),
    project_mappings=(
        ProjectMapping("groups", "qml", "prj_a"),
        ProjectMapping("groups", "chem", "prj_b"),
    ),
    created_at=NOW,
    updated_at=NOW,
)


@pytest.mark.parametrize(
    ("email", "allowed"),
    [
        ("ada@acme.com", True),
        ("ada@ACME.com", True),
        ("ada@evil-acme.com", False),
        ("ada@sub.acme.com", False),
        ("ada@acme.com.evil.test", False),
        ("acme.com", False),
        ("ada@acme.com@evil.test", False),
    ],
)
def test_only_exact_allowed_domains_pass(email: str, allowed: bool) -> None:
    assert PROVIDER.allows_email(email) is allowed


def test_roles_from_every_matching_mapping_add_up() -> None:
    claims = {"groups": ["qplane-users", "qplane-admins"], "department": "audit"}
    assert PROVIDER.roles_for(claims) == {"tenant_admin", "member", "viewer"}


@pytest.mark.parametrize(
    "claims",
    [
        {},
        {"groups": []},
        {"groups": ["qplane-admins-old"]},
        {"groups": "qplane-admins2"},
        {"groups": [["qplane-admins"]]},
        {"groups": {"qplane-admins": True}},
    ],
)
def test_nothing_maps_without_an_exact_match(claims: dict[str, object]) -> None:
    assert PROVIDER.roles_for(claims) == frozenset()


def test_a_single_string_claim_matches_too() -> None:
    assert PROVIDER.roles_for({"department": "audit"}) == {"viewer"}


def test_groups_map_to_projects() -> None:
    assert PROVIDER.projects_for({"groups": ["chem", "qml", "other"]}) == ("prj_a", "prj_b")


def test_domains_are_normalised_and_checked() -> None:
    assert normalise_domains([" ACME.com", "@acme.com", "acme.co.uk"]) == ("acme.co.uk", "acme.com")
    for bad in ([], ["localhost"], ["a@b.com"], ["has space.com"]):
        with pytest.raises(ValidationFailed):
            normalise_domains(bad)
