"""Requests built from facts: the entity slice, the tenant-local clock, the context."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from ipaddress import ip_address, ip_network

import pytest

from qplane.domain.errors import ValidationFailed
from qplane.domain.tenancy import PrincipalKind
from qplane.policy.actions import Action
from qplane.policy.context import AuthFacts, LocalTime
from qplane.policy.entities import Entity, EntityRef, EntityType, to_cedar
from qplane.policy.facts import PLATFORM, ArtifactKind, GroupFacts, PrincipalFacts, TenantFacts
from tests.policy.world import (
    ACME,
    APPROVERS,
    GLOBEX,
    MEMBER,
    OPERATOR,
    QML,
    QPU,
    SIM_WORKER,
    artifact,
    ask,
    job,
    person,
)


def test_the_clock_is_read_in_the_tenants_time_zone() -> None:
    moment = datetime(2025, 3, 7, 23, 30, tzinfo=UTC)  # Friday night in UTC
    assert LocalTime.at(moment, "Asia/Tokyo") == LocalTime(hour=8, weekday=6)  # Saturday
    assert LocalTime.at(moment, "America/New_York") == LocalTime(hour=18, weekday=5)


def test_a_naive_moment_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        LocalTime.at(datetime(2025, 1, 1, 12), "UTC")


def test_an_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="IANA"):
        TenantFacts("t", "t", "Mars/Olympus_Mons")


def test_a_request_uses_the_resource_tenants_clock() -> None:
    at = datetime(2025, 1, 8, 12, 0, tzinfo=UTC)
    assert ask(MEMBER, Action.JOB_READ, job(), at=at).context.now == LocalTime(13, 3)  # Berlin
    assert ask(MEMBER, Action.AUDIT_READ, GLOBEX, at=at).context.now == LocalTime(7, 3)
    assert ask(OPERATOR, Action.TENANT_LIST, PLATFORM, at=at).context.now == LocalTime(12, 3)


def test_job_facts_are_repeated_in_the_context_for_jobs_and_artifacts() -> None:
    confidential = job(backend=QPU, qubits=40, classification="confidential")
    for resource in (confidential, artifact(ArtifactKind.LOG, confidential)):
        context = ask(MEMBER, Action.ARTIFACT_READ, resource).context.to_cedar()
        assert context["classification"] == "confidential"
        assert context["backend_kind"] == "qpu"
        assert context["backend_region"] == "us-east"
        assert context["qubits"] == 40
        assert context["shots"] == 1000


def test_unknown_context_attributes_are_left_out_not_faked() -> None:
    context = ask(MEMBER, Action.AUDIT_READ, ACME).context.to_cedar()
    assert set(context) == {"mfa", "auth_age_s", "step_up_max_age_s", "now", "break_glass"}


def test_a_source_address_becomes_a_cedar_ip_and_garbage_is_refused() -> None:
    auth = AuthFacts(mfa=False, auth_age_s=0, source_ip="2001:db8::1", region="eu-central")
    context = ask(MEMBER, Action.AUDIT_READ, ACME, auth=auth).context.to_cedar()
    assert context["source_ip"] == {"__extn": {"fn": "ip", "arg": "2001:db8::1"}}
    assert context["region"] == "eu-central"
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 address"):
        AuthFacts(mfa=False, auth_age_s=0, source_ip="not-an-ip")


def test_membership_is_a_parent_edge_and_groups_come_along() -> None:
    lead = GroupFacts("acme-leads", ACME.id, frozenset({APPROVERS.id}))
    principal = person("lea", "member", groups=(lead, APPROVERS))
    request = ask(principal, Action.JOB_READ, job())
    assert request.principal.parents == {
        EntityRef(EntityType.PROJECT, QML.id),
        EntityRef(EntityType.GROUP, "acme-leads"),
        EntityRef(EntityType.GROUP, APPROVERS.id),
    }
    uids = {entity.uid for entity in request.entities}
    assert EntityRef(EntityType.GROUP, "acme-leads") in uids
    assert EntityRef(EntityType.BACKEND, "aer-statevector") in uids
    assert EntityRef(EntityType.TENANT, ACME.id) in uids


def test_the_governing_tenant_comes_from_the_entities() -> None:
    assert ask(MEMBER, Action.JOB_READ, job()).governing_tenant == ACME.id
    assert ask(MEMBER, Action.AUDIT_READ, GLOBEX).governing_tenant == GLOBEX.id
    assert ask(MEMBER, Action.BACKEND_LIST, PLATFORM).governing_tenant == ACME.id
    assert ask(SIM_WORKER, Action.JOB_LEASE, job()).governing_tenant == ACME.id
    assert ask(OPERATOR, Action.TENANT_LIST, PLATFORM).governing_tenant is None


def test_operators_have_no_tenant_and_members_have_one() -> None:
    with pytest.raises(ValueError, match="operators have no tenant"):
        PrincipalFacts("olga", PrincipalKind.OPERATOR, ACME)
    with pytest.raises(ValueError, match="operators have no tenant"):
        PrincipalFacts("mia", PrincipalKind.USER, None)


def test_entities_serialise_identically_whatever_the_set_order() -> None:
    one = Entity(
        EntityRef(EntityType.WORKER, "w"),
        {
            "backends": frozenset({EntityRef(EntityType.BACKEND, n) for n in ("b", "a", "c")}),
            "net": ip_network("10.0.0.0/8"),
            "addr": ip_address("10.0.0.1"),
        },
    )
    encoded = json.dumps(one.to_cedar())
    assert encoded == json.dumps(one.to_cedar())
    backends = json.loads(encoded)["attrs"]["backends"]
    assert [backend["__entity"]["id"] for backend in backends] == ["a", "b", "c"]
    assert to_cedar(ip_network("10.0.0.0/8")) == {"__extn": {"fn": "ip", "arg": "10.0.0.0/8"}}
    assert str(EntityRef(EntityType.GROUP, 'a"b')) == 'Qplane::Group::"a\\"b"'
