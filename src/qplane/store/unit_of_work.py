"""The SQL unit of work: one transaction, with every repository bound to it.

    with database.unit_of_work() as uow:
        job = uow.jobs.get_for_update(tenant_id, job_id)
        uow.jobs.save(job.moved_to(JobState.CANCELLED, utcnow()))
        uow.audit.append(entry)  # same transaction as the change it records
        uow.commit()

Nothing is written unless `commit` is called: leaving the block without it,
or by an exception, rolls everything back.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

from sqlalchemy.orm import Session

from qplane.domain.ports import (
    ApiKeyRepository,
    ArtifactRepository,
    AuditKeyRepository,
    AuditRepository,
    BrowserSessionRepository,
    CalendarRepository,
    CalibrationRepository,
    DeviceAuthorizationRepository,
    ElevationRepository,
    FairShareRepository,
    GroupRepository,
    JobRepository,
    KeyRingRepository,
    LeaseRepository,
    MfaRepository,
    OidcIdentityRepository,
    OidcLoginFlowRepository,
    OidcProviderRepository,
    PolicyVersionRepository,
    PrincipalRepository,
    ProjectMemberRepository,
    ProjectRepository,
    QuotaRepository,
    RefreshTokenRepository,
    RevocationRepository,
    SamlIdentityRepository,
    SamlLoginRequestRepository,
    SamlProviderRepository,
    SchedulerStateRepository,
    SeenAssertionRepository,
    SeenTokenIdRepository,
    TenantDirectoryRepository,
    TenantRepository,
    TrustPolicyRepository,
    UsageRepository,
    WorkerRepository,
)
from qplane.store.blobs import RegionalBlobStores
from qplane.store.repositories.artifacts import SqlArtifactRepository
from qplane.store.repositories.audit import SqlAuditRepository
from qplane.store.repositories.audit_keys import SqlAuditKeyRepository
from qplane.store.repositories.browser_sessions import SqlBrowserSessionRepository
from qplane.store.repositories.device import SqlDeviceAuthorizationRepository
from qplane.store.repositories.dpop import SqlSeenTokenIdRepository
from qplane.store.repositories.elevations import SqlElevationRepository
from qplane.store.repositories.groups import SqlGroupRepository
from qplane.store.repositories.jobs import SqlJobRepository
from qplane.store.repositories.key_rings import SqlKeyRingRepository
from qplane.store.repositories.leases import SqlLeaseRepository
from qplane.store.repositories.mfa import SqlMfaRepository
from qplane.store.repositories.oidc import (
    SqlOidcIdentityRepository,
    SqlOidcLoginFlowRepository,
    SqlOidcProviderRepository,
)
from qplane.store.repositories.policies import SqlPolicyVersionRepository
from qplane.store.repositories.principals import SqlPrincipalRepository
from qplane.store.repositories.project_members import SqlProjectMemberRepository
from qplane.store.repositories.projects import SqlProjectRepository
from qplane.store.repositories.saml import SqlSamlProviderRepository
from qplane.store.repositories.saml_logins import (
    SqlSamlIdentityRepository,
    SqlSamlLoginRequestRepository,
    SqlSeenAssertionRepository,
)
from qplane.store.repositories.scheduler import SqlSchedulerStateRepository
from qplane.store.repositories.scheduling import (
    SqlCalendarRepository,
    SqlCalibrationRepository,
    SqlFairShareRepository,
    SqlQuotaRepository,
)
from qplane.store.repositories.sessions import SqlRefreshTokenRepository, SqlRevocationRepository
from qplane.store.repositories.sessions_api_keys import SqlApiKeyRepository
from qplane.store.repositories.tenant_directory import SqlTenantDirectoryRepository
from qplane.store.repositories.tenants import SqlTenantRepository
from qplane.store.repositories.usage import SqlUsageRepository
from qplane.store.repositories.workers import SqlWorkerRepository
from qplane.store.repositories.workload import SqlTrustPolicyRepository


class SqlUnitOfWork:
    """A `qplane.domain.ports.UnitOfWork` over one SQLAlchemy session.

    The repositories exist only inside the ``with`` block; a unit of work
    is used once.
    """

    tenants: TenantRepository
    projects: ProjectRepository
    project_members: ProjectMemberRepository
    groups: GroupRepository
    principals: PrincipalRepository
    jobs: JobRepository
    artifacts: ArtifactRepository
    leases: LeaseRepository
    workers: WorkerRepository
    key_rings: KeyRingRepository
    audit: AuditRepository
    audit_keys: AuditKeyRepository
    elevations: ElevationRepository
    scheduler: SchedulerStateRepository
    saml_providers: SamlProviderRepository
    saml_requests: SamlLoginRequestRepository
    saml_assertions: SeenAssertionRepository
    saml_identities: SamlIdentityRepository
    oidc_providers: OidcProviderRepository
    oidc_flows: OidcLoginFlowRepository
    oidc_identities: OidcIdentityRepository
    refresh_tokens: RefreshTokenRepository
    revocations: RevocationRepository
    api_keys: ApiKeyRepository
    trust_policies: TrustPolicyRepository
    seen_token_ids: SeenTokenIdRepository
    mfa: MfaRepository
    device_grants: DeviceAuthorizationRepository
    browser_sessions: BrowserSessionRepository
    policy_versions: PolicyVersionRepository
    tenant_directory: TenantDirectoryRepository
    quotas: QuotaRepository
    usage: UsageRepository
    fair_share: FairShareRepository
    calendars: CalendarRepository
    calibrations: CalibrationRepository

    def __init__(
        self, session_factory: Callable[[], Session], blobs: RegionalBlobStores | None = None
    ) -> None:
        self._session_factory = session_factory
        #: Regional payload stores; None keeps artifacts' ciphertext in their rows.
        self._blobs = blobs
        self._session: Session | None = None

    def __enter__(self) -> SqlUnitOfWork:
        if self._session is not None:
            raise RuntimeError("a unit of work cannot be entered twice")
        session = self._session = self._session_factory()
        self.tenants = SqlTenantRepository(session)
        self.projects = SqlProjectRepository(session)
        self.project_members = SqlProjectMemberRepository(session)
        self.groups = SqlGroupRepository(session)
        self.principals = SqlPrincipalRepository(session)
        self.jobs = SqlJobRepository(session)
        self.artifacts = SqlArtifactRepository(session, self._blobs)
        self.leases = SqlLeaseRepository(session)
        self.workers = SqlWorkerRepository(session)
        self.key_rings = SqlKeyRingRepository(session)
        self.audit = SqlAuditRepository(session)
        self.audit_keys = SqlAuditKeyRepository(session)
        self.elevations = SqlElevationRepository(session)
        self.scheduler = SqlSchedulerStateRepository(session)
        self.saml_providers = SqlSamlProviderRepository(session)
        self.saml_requests = SqlSamlLoginRequestRepository(session)
        self.saml_assertions = SqlSeenAssertionRepository(session)
        self.saml_identities = SqlSamlIdentityRepository(session)
        self.oidc_providers = SqlOidcProviderRepository(session)
        self.oidc_flows = SqlOidcLoginFlowRepository(session)
        self.oidc_identities = SqlOidcIdentityRepository(session)
        self.refresh_tokens = SqlRefreshTokenRepository(session)
        self.revocations = SqlRevocationRepository(session)
        self.api_keys = SqlApiKeyRepository(session)
        self.trust_policies = SqlTrustPolicyRepository(session)
        self.seen_token_ids = SqlSeenTokenIdRepository(session)
        self.mfa = SqlMfaRepository(session)
        self.device_grants = SqlDeviceAuthorizationRepository(session)
        self.browser_sessions = SqlBrowserSessionRepository(session)
        self.policy_versions = SqlPolicyVersionRepository(session)
        self.tenant_directory = SqlTenantDirectoryRepository(session)
        self.quotas = SqlQuotaRepository(session)
        self.usage = SqlUsageRepository(session)
        self.fair_share = SqlFairShareRepository(session)
        self.calendars = SqlCalendarRepository(session)
        self.calibrations = SqlCalibrationRepository(session)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Roll back whatever was not committed (all of it on an exception); close the session."""
        session = self._active()
        try:
            session.rollback()
        finally:
            session.close()

    def commit(self) -> None:
        """Make every change of this unit of work durable, atomically.

        The unit of work stays usable afterwards: later changes start a new
        transaction, which again needs its own `commit`.
        """
        self._active().commit()

    @property
    def session(self) -> Session:
        """The SQLAlchemy session, for store diagnostics and tests (services use repositories)."""
        return self._active()

    def _active(self) -> Session:
        if self._session is None:
            raise RuntimeError("use the unit of work in a 'with' block")
        return self._session
