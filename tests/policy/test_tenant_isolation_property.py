"""Property: a principal of one tenant is never allowed anything on another tenant's objects.

Hypothesis draws principals of acme (any roles, projects, groups, kind,
second factor, clock) and objects of globex (the tenant, its projects, jobs
on any backend with any classification, their circuits, results and logs),
with any action, and evaluates them with the real baseline — both without
tenant policies and with a globex policy set that permits everything. No
draw may be allowed.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qplane.domain.backends import BackendKind
from qplane.domain.tenancy import PrincipalKind
from qplane.policy.actions import Action
from qplane.policy.context import AuthFacts
from qplane.policy.engine import PolicyEngine
from qplane.policy.facts import (
    ArtifactFacts,
    ArtifactKind,
    BackendFacts,
    GroupFacts,
    JobFacts,
    PrincipalFacts,
    ProjectFacts,
    TenantFacts,
)
from qplane.policy.request import ResourceLike, access_request

ACME = TenantFacts("ten_acme", "acme", "Europe/Berlin", "eu-central")
GLOBEX = TenantFacts("ten_globex", "globex", "America/New_York", "us-east")
ACME_PROJECTS = [ProjectFacts(f"prj_a{i}", ACME, f"a{i}") for i in range(3)]
GLOBEX_PROJECTS = [ProjectFacts(f"prj_g{i}", GLOBEX, f"g{i}") for i in range(3)]
ENGINE = PolicyEngine()
PERMIT_ALL = ENGINE.load_tenant_policies(
    GLOBEX.id, '@id("everything")\npermit (principal, action, resource);\n'
)

roles = st.frozensets(st.sampled_from(["tenant_admin", "member", "viewer", "auditor", "operator"]))
groups = st.lists(
    st.sampled_from(["approvers", "physics", "ops"]).map(lambda g: GroupFacts(g, ACME.id)),
    max_size=3,
    unique=True,
).map(tuple)
acme_principals = st.builds(
    PrincipalFacts,
    id=st.sampled_from(["usr_a1", "usr_a2", "svc_a3"]),
    kind=st.sampled_from([PrincipalKind.USER, PrincipalKind.SERVICE]),
    tenant=st.just(ACME),
    roles=roles,
    # Even a principal that claims globex's project ids among its memberships.
    project_ids=st.frozensets(st.sampled_from([p.id for p in ACME_PROJECTS + GLOBEX_PROJECTS])),
    groups=groups,
)
backends = st.builds(
    BackendFacts,
    name=st.sampled_from(["aer_statevector", "qpu_eagle"]),
    kind=st.sampled_from(list(BackendKind)),
    region=st.sampled_from(["eu-central", "us-east", ""]),
    production=st.booleans(),
    max_qubits=st.integers(0, 200),
)
globex_jobs = st.builds(
    JobFacts,
    id=st.sampled_from(["job_g1", "job_g2"]),
    project=st.sampled_from(GLOBEX_PROJECTS),
    owner_id=st.sampled_from(["usr_a1", "usr_g1"]),  # even "owned" by the acme caller
    backend=backends,
    qubits=st.integers(0, 200),
    shots=st.integers(1, 100_000),
    classification=st.sampled_from(["public", "internal", "confidential", "restricted"]),
)
globex_resources: st.SearchStrategy[ResourceLike] = st.one_of(
    st.just(GLOBEX),
    st.sampled_from(GLOBEX_PROJECTS),
    globex_jobs,
    st.builds(
        lambda job, kind: ArtifactFacts(f"{job.id}/{kind.value}", job, kind),
        globex_jobs,
        st.sampled_from(list(ArtifactKind)),
    ),
)
auth = st.builds(
    AuthFacts,
    mfa=st.booleans(),
    auth_age_s=st.integers(0, 10_000),
    step_up_max_age_s=st.integers(60, 3600),
)
moments = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    principal=acme_principals,
    action=st.sampled_from(list(Action)),
    resource=globex_resources,
    facts=auth,
    at=moments,
    permissive=st.booleans(),
)
def test_no_principal_of_one_tenant_is_ever_allowed_on_anothers_objects(
    principal: PrincipalFacts,
    action: Action,
    resource: ResourceLike,
    facts: AuthFacts,
    at: datetime,
    permissive: bool,
) -> None:
    request = access_request(principal, action, resource, auth=facts, at=at)
    decision = ENGINE.decide(request, PERMIT_ALL if permissive else None)
    assert not decision.allowed, (principal, action, resource, decision)
