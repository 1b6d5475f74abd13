"""What the engine needs to know about each object, as plain records.

Services build these from their own domain objects (a stored job, the
caller's principal with its project memberships and groups); the request
builder turns them into Cedar entities. Keeping them separate from the
store's rows means a policy decision never depends on an ORM session, and a
policy test case can describe a request without a database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from qplane.domain.backends import BackendKind
from qplane.domain.errors import ValidationFailed
from qplane.domain.tenancy import PrincipalKind


class ArtifactKind(StrEnum):
    CIRCUIT = "circuit"
    RESULT = "result"
    LOG = "log"


@dataclass(frozen=True, slots=True)
class TenantFacts:
    """A tenant; its time zone decides what "now" means in its policies."""

    id: str
    name: str
    timezone: str = "UTC"
    region: str = ""

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationFailed(
                f"{self.timezone!r} is not an IANA time zone", field="timezone"
            ) from None


@dataclass(frozen=True, slots=True)
class ProjectFacts:
    id: str
    tenant: TenantFacts
    name: str


@dataclass(frozen=True, slots=True)
class GroupFacts:
    """A tenant group or an IdP group; ``parent_ids`` are the groups it sits in."""

    id: str
    tenant_id: str
    parent_ids: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class PrincipalFacts:
    """A user, a service principal or an operator, with what policies test.

    ``groups`` must hold every group the principal is in, directly or through
    another group, so that Cedar can follow ``in`` to the top.
    """

    id: str
    kind: PrincipalKind
    tenant: TenantFacts | None
    roles: frozenset[str] = frozenset()
    project_ids: frozenset[str] = frozenset()
    groups: tuple[GroupFacts, ...] = ()
    email: str = ""

    def __post_init__(self) -> None:
        # Operators belong to no tenant; everyone else to exactly one.
        if (self.kind is PrincipalKind.OPERATOR) != (self.tenant is None):
            raise ValueError("operators have no tenant; users and service principals have one")


@dataclass(frozen=True, slots=True)
class WorkerFacts:
    """An execution-plane worker and the backends (by name) it serves."""

    id: str
    backends: frozenset[str]


@dataclass(frozen=True, slots=True)
class BackendFacts:
    name: str
    kind: BackendKind
    region: str
    production: bool
    max_qubits: int


@dataclass(frozen=True, slots=True)
class JobFacts:
    """A job, or for ``job.submit`` the job as it would be created."""

    id: str
    project: ProjectFacts
    owner_id: str
    backend: BackendFacts
    qubits: int
    shots: int
    classification: str = "internal"


@dataclass(frozen=True, slots=True)
class ArtifactFacts:
    """A circuit, result or log of a job; it inherits the job's classification."""

    id: str
    job: JobFacts
    kind: ArtifactKind


@dataclass(frozen=True, slots=True)
class PlatformFacts:
    """The platform itself: the resource of platform-wide listings."""

    id: str = field(default="qplane")


#: The one platform resource.
PLATFORM = PlatformFacts()
