"""A small, fixed world of two tenants for policy tests.

acme (Berlin) and globex (New York), each with a project, people in every
role, and the platform's backends, workers and operators. Tests build
requests from these facts exactly as services will.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from qplane.domain.backends import BackendKind
from qplane.domain.tenancy import PrincipalKind
from qplane.policy.actions import Action
from qplane.policy.context import AuthFacts
from qplane.policy.facts import (
    ArtifactFacts,
    ArtifactKind,
    BackendFacts,
    GroupFacts,
    JobFacts,
    PrincipalFacts,
    ProjectFacts,
    TenantFacts,
    WorkerFacts,
)
from qplane.policy.request import AccessRequest, PrincipalLike, ResourceLike, access_request

#: Wednesday 8 January 2025, 12:00 UTC.
NOON: Final = datetime(2025, 1, 8, 12, 0, tzinfo=UTC)
FRESH_MFA: Final = AuthFacts(mfa=True, auth_age_s=60)
STALE_MFA: Final = AuthFacts(mfa=True, auth_age_s=3600)
NO_MFA: Final = AuthFacts(mfa=False, auth_age_s=60)

ACME: Final = TenantFacts("acme", "acme", "Europe/Berlin", "eu-central")
GLOBEX: Final = TenantFacts("globex", "globex", "America/New_York", "us-east")
QML: Final = ProjectFacts("acme-qml", ACME, "qml")
CHEMISTRY: Final = ProjectFacts("acme-chemistry", ACME, "chemistry")
GLOBEX_RND: Final = ProjectFacts("globex-rnd", GLOBEX, "rnd")

SIMULATOR: Final = BackendFacts("aer-statevector", BackendKind.SIMULATOR, "eu-central", False, 32)
QPU: Final = BackendFacts("ibm-eagle", BackendKind.QPU, "us-east", True, 127)

APPROVERS: Final = GroupFacts("acme-approvers", ACME.id)


def person(
    name: str,
    *roles: str,
    tenant: TenantFacts = ACME,
    projects: tuple[ProjectFacts, ...] = (QML,),
    groups: tuple[GroupFacts, ...] = (),
    kind: PrincipalKind = PrincipalKind.USER,
) -> PrincipalFacts:
    return PrincipalFacts(
        id=name,
        kind=kind,
        tenant=tenant,
        roles=frozenset(roles),
        project_ids=frozenset(p.id for p in projects),
        groups=groups,
        email=f"{name}@{tenant.name}.example",
    )


ADMIN: Final = person("ada", "tenant_admin", projects=())
MEMBER: Final = person("mia", "member")
VIEWER: Final = person("vic", "viewer")
NOBODY: Final = person("nora")
CI_BOT: Final = person("ci-bot", "member", kind=PrincipalKind.SERVICE)
GLOBEX_ADMIN: Final = person("gil", "tenant_admin", tenant=GLOBEX, projects=())
GLOBEX_MEMBER: Final = person("gus", "member", tenant=GLOBEX, projects=(GLOBEX_RND,))
OPERATOR: Final = PrincipalFacts("olga", PrincipalKind.OPERATOR, None)
SIM_WORKER: Final = WorkerFacts("wrk-sim", frozenset({SIMULATOR.name}))


def job(
    project: ProjectFacts = QML,
    backend: BackendFacts = SIMULATOR,
    *,
    qubits: int = 5,
    classification: str = "internal",
    job_id: str = "job-1",
) -> JobFacts:
    return JobFacts(job_id, project, "mia", backend, qubits, 1000, classification)


def artifact(kind: ArtifactKind, of: JobFacts | None = None) -> ArtifactFacts:
    parent = of or job()
    return ArtifactFacts(f"{parent.id}-{kind.value}", parent, kind)


def ask(
    principal: PrincipalLike,
    action: Action,
    resource: ResourceLike,
    *,
    auth: AuthFacts = FRESH_MFA,
    at: datetime = NOON,
    break_glass: bool = False,
) -> AccessRequest:
    return access_request(principal, action, resource, auth=auth, at=at, break_glass=break_glass)
