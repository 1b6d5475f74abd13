"""Ports: the persistence interfaces the services depend on.

The store package implements them for SQLite and PostgreSQL; services only
see these protocols. Every method that touches tenant data takes the tenant
id, and answers `NotFound` for another tenant's object exactly as for a
missing one. The few unscoped methods are named for the operator or
scheduler path that needs them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Generic, Protocol, TypeVar

from qplane.domain.audit import AuditEntry, LogHead, Outcome, StoredCheckpoint
from qplane.domain.backends import BackendKind
from qplane.domain.browser import BrowserSession, BrowserSignIn
from qplane.domain.calendar import Calendar, DeviceWindow, Reservation, WindowKind
from qplane.domain.elevation import BreakGlassGrant
from qplane.domain.federation import TrustPolicy
from qplane.domain.jobs import Job, JobState
from qplane.domain.keys import KekVersion, KeyRing, ShredRequest
from qplane.domain.mfa import DeviceAuthorization, TotpCredential
from qplane.domain.oidc import IdentityProvider, LinkedIdentity, LoginFlow
from qplane.domain.policies import ActiveVersion, PolicySettings, PolicyVersion, PolicyVersionStatus
from qplane.domain.quotas import Quota, Usage
from qplane.domain.saml import SamlIdentity, SamlLoginRequest, SamlProvider
from qplane.domain.scheduling import StoredCalibration
from qplane.domain.sessions import ApiKey, RefreshToken, RevocationScope
from qplane.domain.tenancy import (
    GroupMember,
    Principal,
    Project,
    ProjectMember,
    Role,
    Tenant,
)
from qplane.domain.workers import JobLease, WorkerRecord

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SealedArtifact:
    """An encrypted artifact as stored: nothing here is plaintext or a usable key."""

    kek_version: int
    wrapped_key: bytes
    nonce: bytes
    ciphertext: bytes
    #: The key ring whose KEK (at ``kek_version``) wrapped the data key.
    kek_ring: str = ""


@dataclass(frozen=True, slots=True)
class StaleSeal:
    """A stored sealed value whose data key is wrapped under an older KEK version.

    *ref* locates the row for its store; *binding* is the (owner, project,
    subject, kind) it was sealed for, which the rewrap needs to unwrap it.
    """

    ref: tuple[str, ...]
    binding: tuple[str, str, str, str]
    sealed: SealedArtifact


class SealedStore(Protocol):
    """A table of sealed values that key rotation may rewrap (artifacts, IdP and MFA secrets)."""

    def stale(self, ring: str, below_version: int, limit: int) -> list[StaleSeal]:
        """Up to *limit* values of *ring* wrapped under a version below *below_version*."""
        ...

    def count_under(self, ring: str, below_version: int) -> int: ...

    def rewrap(self, seal: StaleSeal, version: int, wrapped_key: bytes) -> bool:
        """Replace the wrapped data key if the row still holds *seal*'s; False if it changed."""
        ...


class KeyRingRepository(Protocol):
    """Key rings and their KEK versions; only provider *material* is stored, never a key."""

    def ring(self, name: str) -> KeyRing | None: ...
    def rings(self, tenant_id: str | None) -> list[KeyRing]:
        """The tenant's rings (the platform's own with None)."""
        ...

    def all_rings(self) -> list[KeyRing]: ...
    def rotated(self) -> list[str]:
        """Rings with more than one active version: the only ones that may need a rewrap."""
        ...

    def add_ring(self, ring: KeyRing) -> None: ...
    def update_ring(self, ring: KeyRing) -> None: ...
    def latest(self, ring: str) -> KekVersion | None:
        """The newest *active* version: the one new data keys are wrapped under."""
        ...

    def version(self, ring: str, version: int) -> KekVersion | None: ...
    def versions(self, ring: str) -> list[KekVersion]: ...
    def add_version(self, ring: KeyRing, kek: KekVersion) -> None:
        """Raises `Conflict` when the version exists (two rotations raced)."""
        ...

    def update_version(self, kek: KekVersion) -> None: ...
    def add_shred_request(self, request: ShredRequest) -> None: ...
    def shred_request_for_update(self, request_id: str) -> ShredRequest | None: ...
    def update_shred_request(self, request: ShredRequest) -> None: ...


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


class TenantRepository(Protocol):
    def add(self, tenant: Tenant) -> None: ...
    def get(self, tenant_id: str) -> Tenant: ...
    def by_name(self, name: str) -> Tenant | None: ...
    def update_settings(self, tenant_id: str, *, timezone: str, region: str) -> None: ...
    def update_scheduling(
        self, tenant_id: str, *, plan: str, allowed_regions: tuple[str, ...]
    ) -> None: ...
    def list_all(self) -> list[Tenant]:
        """Operator path only."""
        ...


class ProjectRepository(Protocol):
    def add(self, project: Project) -> None: ...
    def get(self, tenant_id: str, project_id: str) -> Project: ...
    def by_name(self, tenant_id: str, name: str) -> Project | None: ...
    def for_tenant(self, tenant_id: str) -> list[Project]: ...
    def set_allowed_regions(
        self, tenant_id: str, project_id: str, regions: tuple[str, ...]
    ) -> None: ...


class ProjectMemberRepository(Protocol):
    """Who may work in which project; every method is confined to one tenant."""

    def add(self, member: ProjectMember) -> bool:
        """Record *member*; False when that exact grant already existed."""
        ...

    def remove(self, tenant_id: str, project_id: str, principal_id: str, source: str) -> bool: ...
    def remove_all(self, tenant_id: str, project_id: str, principal_id: str) -> int: ...

    def replace_source(
        self,
        tenant_id: str,
        principal_id: str,
        source: str,
        project_ids: frozenset[str],
        now: datetime,
    ) -> tuple[frozenset[str], frozenset[str]]:
        """Make *source*'s grants exactly *project_ids*; returns (added, removed)."""
        ...

    def projects_of(self, tenant_id: str, principal_id: str) -> frozenset[str]: ...
    def of_project(self, tenant_id: str, project_id: str) -> list[ProjectMember]: ...


class GroupRepository(Protocol):
    """Named groups of a tenant's principals; every method is confined to one tenant."""

    def add(self, member: GroupMember) -> bool: ...
    def remove_all(self, tenant_id: str, group: str, principal_id: str) -> int: ...

    def replace_source(
        self,
        tenant_id: str,
        principal_id: str,
        source: str,
        groups: frozenset[str],
        now: datetime,
    ) -> tuple[frozenset[str], frozenset[str]]:
        """Make *source*'s groups of the principal exactly *groups*; returns (added, removed)."""
        ...

    def groups_of(self, tenant_id: str, principal_id: str) -> frozenset[str]: ...
    def members_of(self, tenant_id: str, group: str) -> list[GroupMember]: ...
    def names(self, tenant_id: str) -> list[str]: ...


class PrincipalRepository(Protocol):
    def add(self, principal: Principal, password_hash: str | None) -> None: ...
    def get(self, tenant_id: str | None, principal_id: str) -> Principal: ...
    def for_login(self, email: str) -> tuple[Principal, str | None] | None:
        """Login path only: find a principal by its globally unique email."""
        ...

    def set_password_hash(self, principal_id: str, password_hash: str) -> None: ...
    def for_tenant(self, tenant_id: str) -> list[Principal]: ...


class JobRepository(Protocol):
    def add(self, job: Job) -> None: ...
    def get(self, tenant_id: str, job_id: str) -> Job: ...
    def get_for_update(self, tenant_id: str, job_id: str) -> Job:
        """Like `get`, but locks the row until the transaction ends."""
        ...

    def save(self, job: Job) -> None:
        """Persist state, fields and any history steps not yet stored."""
        ...

    def page(
        self,
        tenant_id: str,
        project_id: str,
        states: frozenset[JobState] | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Job]: ...
    def count_active(self, tenant_id: str) -> int:
        """Jobs holding a running slot (scheduled or running)."""
        ...

    def tenants_with_queued(self, backends: Sequence[str]) -> list[str]:
        """Scheduler path: ids of tenants with queued jobs on these backends, sorted."""
        ...

    def next_queued(self, tenant_id: str, backends: Sequence[str]) -> Job | None:
        """Scheduler path: the tenant's oldest queued job on these backends, locked
        (rows locked by another transaction are skipped)."""
        ...

    def queued_on(self, tenant_id: str, backend: str, limit: int) -> list[Job]:
        """The tenant's queued jobs on *backend*, priority first, then oldest."""
        ...

    def active_on(self, backend: str) -> int: ...
    def count_active_in(self, tenant_id: str, project_id: str) -> int: ...
    def running(self, limit: int) -> list[Job]: ...
    def retirable(self, before: datetime, limit: int) -> list[tuple[str, str]]:
        """Sweeper path: (tenant_id, job_id) of finished jobs last changed before *before*."""
        ...


class ArtifactRepository(SealedStore, Protocol):
    def put(self, tenant_id: str, job_id: str, kind: str, sealed: SealedArtifact) -> None: ...
    def get(self, tenant_id: str, job_id: str, kind: str) -> SealedArtifact: ...
    def delete_for_job(self, tenant_id: str, job_id: str) -> int: ...


class LeaseRepository(Protocol):
    def add(self, lease: JobLease) -> None: ...
    def get(self, lease_id: str) -> JobLease:
        """Worker path; the caller checks the lease belongs to the calling worker."""
        ...

    def for_job(self, job_id: str) -> JobLease | None: ...
    def renew(self, lease_id: str, expires_at: datetime) -> None: ...
    def delete(self, lease_id: str) -> None: ...
    def expired(self, now: datetime, limit: int) -> list[JobLease]:
        """Sweeper path."""
        ...


class WorkerRepository(Protocol):
    def add(self, worker: WorkerRecord) -> None: ...
    def get(self, worker_id: str) -> WorkerRecord: ...
    def by_name(self, name: str) -> WorkerRecord | None: ...
    def list_all(self) -> list[WorkerRecord]: ...
    def disable(self, worker_id: str) -> None:
        """Mark the worker disabled for good; `NotFound` when there is no such worker."""
        ...


@dataclass(frozen=True, slots=True)
class AuditQuery:
    log: str  # always one log: a tenant's own, or the platform's on the operator path
    actor_id: str | None = None
    workload_id: str | None = None
    action: str | None = None
    outcome: Outcome | None = None
    decision: str | None = None
    job_id: str | None = None
    backend: str | None = None
    target: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class AuditRepository(Protocol):
    """The Merkle logs: entries, immutable tree nodes, heads, checkpoints."""

    def head_for_update(self, log: str) -> LogHead | None:
        """The log's head (None while empty), locking the log for appending."""
        ...

    def head(self, log: str) -> LogHead | None: ...
    def append(
        self, entry: AuditEntry, nodes: Sequence[tuple[int, int, bytes]], head: LogHead
    ) -> None: ...
    def entry(self, log: str, index: int) -> AuditEntry | None: ...
    def entries(self, log: str, start: int = 0, end: int | None = None) -> Iterator[AuditEntry]:
        """Stored entries of *log* in index order (consume inside the unit of work)."""
        ...

    def leaf_hashes(self, log: str, start: int, end: int) -> Iterator[tuple[int, bytes]]: ...
    def node(self, log: str, level: int, index: int) -> bytes:
        """A stored node's hash; `KeyError` when absent."""
        ...

    def logs(self) -> list[str]: ...
    def search(self, query: AuditQuery, limit: int, cursor: str | None) -> Page[AuditEntry]: ...
    def add_checkpoint(self, checkpoint: StoredCheckpoint) -> None: ...
    def checkpoint(self, log: str, size: int) -> StoredCheckpoint | None: ...
    def latest_checkpoint(self, log: str) -> StoredCheckpoint | None: ...
    def checkpoint_at_or_below(self, log: str, size: int | None) -> StoredCheckpoint | None: ...
    def checkpoints(self, log: str, min_size: int = 0) -> list[StoredCheckpoint]: ...
    def prune(self, log: str, below: int) -> int: ...
    def pruned_below(self, log: str) -> int: ...
    def first_index_at_or_after(self, log: str, at: datetime) -> int | None: ...


class AuditKeyRepository(SealedStore, Protocol):
    """Tenants' audit HMAC keys, stored only sealed under the tenant's key ring."""

    def get(self, tenant_id: str) -> SealedArtifact | None: ...
    def add_if_absent(self, tenant_id: str, sealed: SealedArtifact, at: datetime) -> SealedArtifact:
        """Store *sealed* unless the tenant has a key already; return the one stored."""
        ...


class ElevationRepository(Protocol):
    """Break-glass elevations, by id; the service decides whether one is still valid."""

    def add(self, grant: BreakGlassGrant) -> None: ...
    def get(self, elevation_id: str) -> BreakGlassGrant | None: ...


class SchedulerStateRepository(Protocol):
    def cursor_for_update(self) -> str | None:
        """The tenant served last, locking the row so schedulers take turns."""
        ...

    def set_cursor(self, tenant_id: str) -> None: ...


class RefreshTokenRepository(Protocol):
    """Refresh tokens by digest; the token itself is never stored."""

    def add(self, token: RefreshToken) -> None: ...
    def by_hash_for_update(self, token_hash: str) -> RefreshToken | None:
        """Login path: the token with this digest, locked so a rotation happens once."""
        ...

    def mark_rotated(self, token_id: str, at: datetime) -> None: ...
    def revoke_family(self, family_id: str, at: datetime) -> int: ...
    def revoke_for_principal(
        self, tenant_id: str | None, principal_id: str, at: datetime
    ) -> int: ...
    def revoke_for_tenant(self, tenant_id: str, at: datetime) -> int: ...
    def purge_ended(self, before: datetime, limit: int) -> int:
        """Sweeper path: delete up to *limit* tokens whose family expired or was revoked
        before *before*."""
        ...


class RevocationRepository(Protocol):
    """Not-valid-before watermarks and the jti deny-list."""

    def raise_watermark(self, scope: RevocationScope, subject_id: str, not_before: int) -> None:
        """Set the watermark to *not_before* unless it is already later (never lowers it)."""
        ...

    def not_before(self, tenant_id: str | None, principal_id: str) -> int | None:
        """The later of the principal's and its tenant's watermarks, if any."""
        ...

    def deny(self, jti: str, owner: str, expires_at: datetime) -> None: ...
    def is_denied(self, jti: str, tenant_id: str | None) -> bool:
        """Whether *jti* is deny-listed by the platform or by the token's own tenant."""
        ...

    def purge_expired(self, now: datetime, limit: int | None = None) -> int: ...
    def find_principal(self, principal_id: str) -> Principal | None:
        """Operator path only (unscoped): the principal a platform revocation names."""
        ...


class ApiKeyRepository(Protocol):
    def add(self, key: ApiKey) -> None: ...
    def by_id(self, key_id: str) -> ApiKey | None:
        """Authentication path only (unscoped): the caller compares the secret."""
        ...

    def for_tenant(self, tenant_id: str) -> list[ApiKey]: ...
    def revoke(self, tenant_id: str, key_id: str, at: datetime) -> None:
        """Raises `NotFound` for a missing key and for another tenant's."""
        ...

    def touch(self, key_id: str, at: datetime) -> None: ...


class TrustPolicyRepository(Protocol):
    """Workload identity federation trust policies (see `qplane.domain.federation`)."""

    def add(self, policy: TrustPolicy) -> None: ...
    def get(self, tenant_id: str, policy_id: str) -> TrustPolicy: ...
    def for_project(self, tenant_id: str, project_id: str) -> list[TrustPolicy]: ...
    def for_exchange(self, project_id: str, issuer: str) -> list[TrustPolicy]:
        """Token-exchange path only: a project's policies for one issuer, oldest first."""
        ...

    def for_principal(self, tenant_id: str, principal_id: str) -> TrustPolicy | None: ...
    def delete(self, tenant_id: str, policy_id: str) -> TrustPolicy:
        """Remove the policy and disable its service principal."""
        ...


class SeenTokenIdRepository(Protocol):
    """Ids of external tokens and DPoP proofs already accepted, shared by every server."""

    def first_use(self, namespace: str, token_id: str, expires_at: datetime, now: datetime) -> bool:
        """True the first time *token_id* is seen in *namespace* (until *expires_at*)."""
        ...

    def count_live(self, namespace: str, now: datetime) -> tuple[int, datetime | None]:
        """How many ids *namespace* still remembers at *now*, and when the soonest expires."""
        ...

    def purge_expired(self, now: datetime, limit: int) -> int:
        """Sweeper path: forget up to *limit* ids (of any namespace) expired by *now*."""
        ...


class OidcProviderRepository(SealedStore, Protocol):
    """A tenant's OpenID providers; the client secret goes in and out only sealed."""

    def add(self, provider: IdentityProvider, secret: SealedArtifact) -> None: ...
    def get(self, tenant_id: str, provider_id: str) -> IdentityProvider: ...
    def by_name(self, tenant_id: str, name: str) -> IdentityProvider | None: ...
    def for_tenant(self, tenant_id: str) -> list[IdentityProvider]: ...
    def update(self, provider: IdentityProvider, secret: SealedArtifact | None) -> None: ...
    def delete(self, tenant_id: str, provider_id: str) -> None: ...
    def sealed_secret(self, tenant_id: str, provider_id: str) -> SealedArtifact: ...


class OidcLoginFlowRepository(Protocol):
    def add(self, flow: LoginFlow) -> None: ...
    def take(self, state_hash: str) -> LoginFlow | None:
        """Remove and return the flow (single use), or None when there is none."""
        ...

    def purge_expired(self, now: datetime, limit: int | None = None) -> int: ...


class OidcIdentityRepository(Protocol):
    def by_subject(self, tenant_id: str, issuer: str, subject: str) -> LinkedIdentity | None: ...
    def add(self, identity: LinkedIdentity) -> None: ...
    def record_login(self, identity: LinkedIdentity, roles: frozenset[str]) -> None:
        """Store the login's email, projects and time, and set the principal's roles."""
        ...


class SamlProviderRepository(Protocol):
    """A tenant's SAML identity providers (see `qplane.domain.saml`)."""

    def add(self, provider: SamlProvider) -> None: ...
    def get(self, tenant_id: str, provider_id: str) -> SamlProvider: ...
    def for_tenant(self, tenant_id: str) -> list[SamlProvider]: ...
    def delete(self, tenant_id: str, provider_id: str) -> None: ...


class SamlLoginRequestRepository(Protocol):
    def add(self, request: SamlLoginRequest, relay_state_hash: str) -> None: ...
    def consume(self, tenant_id: str, relay_state_hash: str, now: datetime) -> SamlLoginRequest:
        """Remove and return the unexpired request (single use); `NotFound` otherwise."""
        ...

    def purge_expired(self, now: datetime, limit: int | None = None) -> int: ...


class SeenAssertionRepository(Protocol):
    def remember(self, tenant_id: str, assertion_hash: str, expires_at: datetime) -> None:
        """Record an accepted SAML assertion; `Conflict` when it was seen before."""
        ...

    def purge_expired(self, now: datetime, limit: int | None = None) -> int: ...


class SamlIdentityRepository(Protocol):
    def principal_for(self, tenant_id: str, subject_hash: str) -> SamlIdentity | None: ...
    def link(self, identity: SamlIdentity, subject_hash: str, now: datetime) -> None: ...
    def sync(
        self,
        tenant_id: str,
        subject_hash: str,
        roles: frozenset[Role],
        project_ids: tuple[str, ...],
    ) -> None:
        """Set the linked principal's roles and projects to what the IdP says now."""
        ...


class MfaRepository(SealedStore, Protocol):
    """TOTP credentials (sealed) and recovery codes (digests), per principal."""

    def totp_for_update(self, principal_id: str) -> TotpCredential | None:
        """The principal's authenticator, locked so a time step is accepted once."""
        ...

    def put_totp(self, credential: TotpCredential) -> None:
        """Insert or replace the principal's (pending or active) authenticator."""
        ...

    def delete_totp(self, principal_id: str) -> None: ...
    def replace_recovery_codes(
        self, principal_id: str, code_hashes: Sequence[str], at: datetime
    ) -> None: ...
    def use_recovery_code(self, principal_id: str, code_hash: str, at: datetime) -> bool:
        """Spend an unused code of this principal; False if none matches (or it was spent)."""
        ...

    def unused_recovery_codes(self, principal_id: str) -> int: ...


class DeviceAuthorizationRepository(Protocol):
    """RFC 8628 device authorizations; the device code only as its digest."""

    def add(self, grant: DeviceAuthorization) -> None: ...
    def by_device_code_for_update(self, device_code_hash: str) -> DeviceAuthorization | None: ...
    def by_user_code_for_update(self, user_code: str) -> DeviceAuthorization | None: ...
    def save(self, grant: DeviceAuthorization) -> None: ...
    def purge_expired(self, before: datetime, limit: int | None = None) -> int: ...


class BrowserSessionRepository(Protocol):
    """Sessions of the device verification page, by the digest of their cookie."""

    def add(self, session: BrowserSession) -> None: ...
    def for_update(self, id_hash: str, now: datetime) -> BrowserSession | None:
        """The unexpired session, locked for the rest of the transaction; None otherwise."""
        ...

    def set_csrf(self, id_hash: str, csrf_hash: str) -> None: ...
    def sign_in(self, id_hash: str, user_code: str, sign_in: BrowserSignIn) -> bool:
        """Record who signed in (and for which user code); False when the session is gone."""
        ...

    def delete(self, id_hash: str) -> bool:
        """Remove the session; True for exactly one of several concurrent callers."""
        ...

    def purge_expired(self, now: datetime, limit: int | None = None) -> int: ...


class PolicyVersionRepository(Protocol):
    """A tenant's policy versions and its policy settings; every method is confined to one tenant.

    Versions are immutable: only their status and approval/activation fields
    ever change, through the methods named for that.
    """

    def add(self, version: PolicyVersion) -> None:
        """Raises `Conflict` when the tenant already has a version with this number."""
        ...

    def get(self, tenant_id: str, version: int) -> PolicyVersion: ...
    def latest_number(self, tenant_id: str) -> int:
        """The highest version number so far; 0 before the first push."""
        ...

    def for_tenant(self, tenant_id: str, limit: int) -> list[PolicyVersion]:
        """Newest first."""
        ...

    def set_status(
        self,
        tenant_id: str,
        version: int,
        status: PolicyVersionStatus,
        *,
        activated_at: datetime | None = None,
    ) -> None: ...
    def record_approval(
        self, tenant_id: str, version: int, approver_id: str, at: datetime
    ) -> None: ...
    def settings(self, tenant_id: str) -> PolicySettings:
        """The tenant's settings (defaults when it never changed them)."""
        ...

    def settings_for_update(self, tenant_id: str, now: datetime) -> PolicySettings:
        """The settings row, created if missing and locked: policy changes take turns."""
        ...

    def save_settings(self, settings: PolicySettings) -> None: ...
    def active(self, tenant_id: str) -> ActiveVersion | None:
        """The active version's number and digest: one primary-key read."""
        ...


class TenantDirectoryRepository(Protocol):
    """Whether a named object is one of the tenant's own (what its policies may name)."""

    def has_project(self, tenant_id: str, project_id: str) -> bool: ...
    def has_group(self, tenant_id: str, group: str) -> bool:
        """A group exists in a tenant while any principal is in it."""
        ...

    def has_principal(self, tenant_id: str, principal_id: str, kind: str) -> bool: ...
    def has_job(self, tenant_id: str, job_id: str) -> bool: ...


class QuotaRepository(Protocol):
    def get(self, tenant_id: str, project_id: str | None = None) -> Quota | None: ...
    def for_tenant(self, tenant_id: str) -> list[Quota]: ...
    def put(self, quota: Quota, at: datetime) -> None: ...


class UsageRepository(Protocol):
    def usage(
        self,
        tenant_id: str,
        project_id: str | None,
        now: datetime,
        backends: Mapping[BackendKind, Sequence[str]],
    ) -> Usage: ...


class FairShareRepository(Protocol):
    def clock_for_update(self, backend: str) -> float: ...
    def set_clock(self, backend: str, virtual_time: float) -> None: ...
    def finish_tags(self, backend: str, tenant_ids: Sequence[str]) -> dict[str, float]: ...
    def set_finish_tag(self, backend: str, tenant_id: str, tag: float) -> None: ...
    def adjust_finish_tag(self, backend: str, tenant_id: str, delta: float) -> None: ...


class CalendarRepository(Protocol):
    def add_window(self, window: DeviceWindow) -> None: ...
    def windows(
        self, backend: str, ending_after: datetime, limit: int = 50
    ) -> list[DeviceWindow]: ...
    def last_window(self, backend: str, kind: WindowKind) -> DeviceWindow | None: ...
    def add_reservation(self, reservation: Reservation) -> None: ...
    def reservation(self, reservation_id: str, tenant_id: str | None = None) -> Reservation: ...
    def cancel_reservation(self, reservation_id: str, at: datetime) -> None: ...
    def reservations(
        self,
        *,
        backend: str | None = None,
        tenant_id: str | None = None,
        ending_after: datetime,
        limit: int = 200,
    ) -> list[Reservation]: ...
    def calendar(self, backend: str, now: datetime) -> Calendar: ...


class CalibrationRepository(Protocol):
    def add(self, calibration: StoredCalibration) -> None: ...
    def latest(self, backend: str) -> StoredCalibration | None: ...
    def get(self, calibration_id: str) -> StoredCalibration: ...
    def prune(self, backend: str, keep: int) -> int: ...


class UnitOfWork(Protocol):
    """One database transaction with every repository bound to it."""

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

    def __enter__(self) -> UnitOfWork: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Roll back on exception; otherwise roll back anything not committed."""
        ...

    def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...
