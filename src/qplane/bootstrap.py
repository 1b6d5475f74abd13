"""The composition root: settings in, a wired platform out.

This is the only place that decides which implementation stands behind each
port. The API, the CLI and the tests all build the platform here and are
handed what it built; nothing fetches a collaborator from a global.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from qplane.audit.platform_access import PlatformAuditAccess
from qplane.audit.retention import AuditRetention
from qplane.audit.service import AuditService
from qplane.audit.signing import CheckpointKeys
from qplane.backends.catalogue import BackendCatalogue, default_catalogue
from qplane.broker.archives import ArchiveService
from qplane.broker.calibration import CalibrationKeeper
from qplane.broker.dispatch import DispatchService
from qplane.broker.explain import ExplainService
from qplane.broker.jobs import JobService
from qplane.broker.keys import KeyService
from qplane.broker.policies import PolicyService
from qplane.broker.queue_view import QueueView
from qplane.broker.quotas import QuotaService
from qplane.broker.reservations import ReservationService
from qplane.broker.signal import WorkSignal
from qplane.broker.sweeper import Sweeper
from qplane.broker.tenancy import TenancyService
from qplane.broker.workers import WorkerRegistry
from qplane.config import Settings
from qplane.crypto.attestation import AttestationKey
from qplane.crypto.customer_keys import customer_managed_providers
from qplane.crypto.hierarchy import KeyHierarchy
from qplane.crypto.keyring import LocalKeyring
from qplane.crypto.pkcs11_provider import platform_hsm_providers
from qplane.crypto.providers import KeyProviders
from qplane.domain.keys import validate_environment
from qplane.identity.api_keys import ApiKeyService
from qplane.identity.authenticate import Authenticator
from qplane.identity.browser_sessions import BrowserSessions
from qplane.identity.device import DeviceGrantService
from qplane.identity.device_verification import DeviceVerification
from qplane.identity.dpop import DPoPVerifier
from qplane.identity.federation import FederationService
from qplane.identity.federation_jwks import IssuerKeys
from qplane.identity.login import LoginService
from qplane.identity.mfa import MfaService
from qplane.identity.mfa_login import MfaLogin
from qplane.identity.oidc import IssuerDirectory, OidcLoginService, ProviderRegistry
from qplane.identity.revocation import RevocationService
from qplane.identity.saml import SamlLoginService, SamlProviderService, ServiceProvider
from qplane.identity.sessions import SessionService
from qplane.identity.signing import SigningKeys
from qplane.identity.tokens import LEEWAY_S, TokenIssuer, TokenVerifier
from qplane.policy.active import ActivePolicies
from qplane.policy.authorizer import Authorizer
from qplane.policy.engine import PolicyEngine
from qplane.store.blobs import blob_stores_for
from qplane.store.database import Database

INTERNAL_TOKEN_PATH = "/internal/v1/token"
DEVICE_VERIFICATION_PATH = "/device"
#: MFA tokens (password proven, second factor pending) are valid only for this audience.
MFA_AUDIENCE_SUFFIX = "#mfa"

_log = logging.getLogger("qplane.bootstrap")


@dataclass
class Platform:
    settings: Settings
    database: Database
    catalogue: BackendCatalogue
    signing_keys: SigningKeys
    issuer: TokenIssuer
    verifier: TokenVerifier
    authenticator: Authenticator
    login: LoginService
    mfa: MfaService
    mfa_login: MfaLogin
    device: DeviceGrantService
    federation: FederationService
    sessions: SessionService
    saml_providers: SamlProviderService
    saml: SamlLoginService
    oidc_providers: ProviderRegistry
    oidc: OidcLoginService
    revocations: RevocationService
    api_keys: ApiKeyService
    tenancy: TenancyService
    jobs: JobService
    dispatch: DispatchService
    calibrations: CalibrationKeeper
    quotas: QuotaService
    reservations: ReservationService
    queue: QueueView
    workers: WorkerRegistry
    sweeper: Sweeper
    audit: AuditService
    #: A tenant's own log as a file it can verify offline (JSON Lines or OCSF).
    #: Operators' reads: the platform's log, and a tenant's under break-glass only.
    platform_audit: PlatformAuditAccess
    browser_sessions: BrowserSessions
    #: One engine for the process: it caches compiled policy sets per tenant version.
    policy_engine: PolicyEngine
    #: The decision path's lookup of each tenant's active policy set.
    active_policies: ActivePolicies
    #: The one decision point every service asks before acting.
    authorizer: Authorizer
    #: Hypothetical decisions, explained, for security review.
    explain: ExplainService
    keys: KeyService
    key_hierarchy: KeyHierarchy
    policies: PolicyService
    #: The platform's composite (ML-DSA-65 + Ed25519) key that signs result attestations.
    attestation_key: AttestationKey
    #: Attested job archives, sealed to a recipient's hybrid post-quantum key.
    archives: ArchiveService
    #: The device verification page; wired by `build_platform` from the services above.
    device_pages: DeviceVerification = field(init=False)

    def close(self) -> None:
        self.key_hierarchy.providers.close()  # log out of HSM and customer tokens
        self.database.dispose()


def build_platform(settings: Settings, *, upgrade: bool = True) -> Platform:
    """Wire every service from *settings*; upgrades the schema first unless told not to."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    catalogue = default_catalogue()
    # Payloads stay in their job's region: one blob store per region (residency).
    database = Database(
        settings.effective_database_url,
        blobs=blob_stores_for(settings, {info.region for info in catalogue.infos()}),
    )
    if upgrade:
        database.upgrade()
    if database.row_security_bypassed():
        _log.warning(
            "the database role bypasses row-level security (superuser or BYPASSRLS): "
            "PostgreSQL will not fence tenants apart behind qplane's own checks; "
            "connect as an ordinary role that owns the schema"
        )
    keyring = KeyHierarchy(
        KeyProviders(
            LocalKeyring.from_settings(settings),
            default=settings.key_provider,
            others=platform_hsm_providers(settings),
            customer_managed=customer_managed_providers(settings),
        ),
        environment=validate_environment(settings.key_environment),
    )
    calibrations = CalibrationKeeper(
        database,
        catalogue,
        interval_s=settings.calibration_interval_s,
        window_s=settings.calibration_window_s,
    )
    signing = SigningKeys.load_or_create(settings.key_dir)
    attestation = AttestationKey.load_or_create(settings.key_dir)
    work = WorkSignal()
    issuer = TokenIssuer(signing, settings.issuer, settings.token_audience, settings.token_ttl_s)
    verifier = TokenVerifier(signing, settings.issuer, settings.token_audience)
    dpop = DPoPVerifier(database)
    sessions = SessionService(database, issuer, settings.refresh_token_ttl_s)
    mfa = MfaService(
        database,
        keyring,
        sessions,
        max_failures_in_window=settings.mfa_max_failures,
        failure_window_s=settings.mfa_failure_window_s,
    )
    mfa_login = MfaLogin(
        database, mfa, sessions, issuer, verifier, settings.token_audience + MFA_AUDIENCE_SUFFIX
    )
    policy_engine = PolicyEngine()
    active_policies = ActivePolicies(database, policy_engine)
    authorizer = Authorizer(policy_engine, database, active_policies)
    audit_log = AuditService(
        database,
        CheckpointKeys.load_or_create(
            settings.key_dir, settings.audit_origin, post_quantum=settings.audit_post_quantum
        ),
    )
    api_keys = ApiKeyService(
        database,
        enabled=settings.api_keys_enabled,
        max_ttl_days=settings.api_key_max_ttl_days,
        authorizer=authorizer,
    )
    longest_token_s = max(settings.token_ttl_s, settings.worker_token_ttl_s) + LEEWAY_S
    saml_sp = ServiceProvider(settings.issuer, settings.key_dir, settings.saml_clock_skew_s)
    # Browser sessions of the device page live no longer than the device code they approve.
    browser_sessions = BrowserSessions(database, ttl_s=settings.device_code_ttl_s)
    platform = Platform(
        settings=settings,
        database=database,
        catalogue=catalogue,
        signing_keys=signing,
        issuer=issuer,
        verifier=verifier,
        authenticator=Authenticator(
            database,
            verifier,
            api_keys=api_keys,
            dpop=dpop,
            step_up_max_age_s=settings.step_up_max_age_s,
        ),
        federation=FederationService(
            database,
            issuer,
            IssuerKeys(allow_http_loopback=settings.insecure_federation_http_issuers),
            dpop,
            allow_http_loopback=settings.insecure_federation_http_issuers,
            authorizer=authorizer,
        ),
        login=LoginService(
            database,
            sessions,
            second_factor=mfa_login,
            max_failures_per_account=settings.login_max_failures_per_account,
            max_failures_per_source=settings.login_max_failures_per_source,
            failure_window_s=settings.login_failure_window_s,
        ),
        mfa=mfa,
        mfa_login=mfa_login,
        device=DeviceGrantService(
            database,
            sessions,
            settings.issuer + DEVICE_VERIFICATION_PATH,
            ttl_s=settings.device_code_ttl_s,
            interval_s=settings.device_poll_interval_s,
        ),
        sessions=sessions,
        saml_providers=SamlProviderService(database, saml_sp, authorizer=authorizer),
        saml=SamlLoginService(
            database, saml_sp, sessions, settings.saml_request_ttl_s, sign_ins=browser_sessions
        ),
        oidc_providers=ProviderRegistry(
            database,
            keyring,
            allow_http=settings.insecure_oidc_http_issuers,
            authorizer=authorizer,
        ),
        oidc=_oidc_login(settings, database, keyring, sessions, browser_sessions),
        revocations=RevocationService(database, deny_ttl_s=longest_token_s, authorizer=authorizer),
        api_keys=api_keys,
        tenancy=TenancyService(database, keyring, authorizer=authorizer),
        jobs=JobService(
            database,
            catalogue,
            keyring,
            settings.max_payload_bytes,
            work,
            authorizer=authorizer,
            time_limits=(settings.default_job_time_limit_s, settings.max_job_time_limit_s),
        ),
        dispatch=DispatchService(
            database,
            keyring,
            settings.lease_ttl_s,
            work,
            authorizer=authorizer,
            catalogue=catalogue,
            calibrations=calibrations,
            jitter_s=settings.dispatch_jitter_s,
        ),
        calibrations=calibrations,
        quotas=QuotaService(database, catalogue, authorizer),
        reservations=ReservationService(database, catalogue, authorizer),
        queue=QueueView(
            database, catalogue, authorizer, granularity_s=settings.tenant_time_granularity_s
        ),
        workers=WorkerRegistry(
            database,
            issuer,
            settings.issuer + INTERNAL_TOKEN_PATH,
            settings.worker_token_ttl_s,
            authorizer=authorizer,
            catalogue=catalogue,
        ),
        sweeper=Sweeper(
            database,
            settings.max_attempts,
            settings.retention_days,
            work,
            refresh_token_ttl_s=settings.refresh_token_ttl_s,
            keys=keyring,
            checkpoints=audit_log.sign_grown,
            checkpoint_interval_s=settings.audit_checkpoint_interval_s,
            audit_retention=AuditRetention(database, settings.audit_retention_days).prune,
            blob_gc=database.collect_orphan_blobs,
            calibrations=calibrations,
        ),
        audit=audit_log,
        platform_audit=PlatformAuditAccess(
            database,
            audit_log,
            authorizer=authorizer,
            max_ttl=timedelta(seconds=settings.break_glass_max_ttl_s),
        ),
        browser_sessions=browser_sessions,
        policy_engine=policy_engine,
        active_policies=active_policies,
        authorizer=authorizer,
        explain=ExplainService(database, authorizer, catalogue),
        keys=KeyService(database, keyring, authorizer=authorizer),
        key_hierarchy=keyring,
        policies=PolicyService(database, policy_engine, authorizer=authorizer),
        attestation_key=attestation,
        archives=ArchiveService(database, catalogue, keyring, attestation, authorizer=authorizer),
    )
    platform.device_pages = _device_pages(platform)
    return platform


def _device_pages(platform: Platform) -> DeviceVerification:
    """The device verification page, on top of the login services every other login uses."""
    return DeviceVerification(
        platform.browser_sessions,
        platform.device,
        login=platform.login,
        mfa_login=platform.mfa_login,
        authenticator=platform.authenticator,
        revocations=platform.revocations,
        oidc=platform.oidc,
        saml=platform.saml,
    )


def _oidc_login(
    settings: Settings,
    database: Database,
    keyring: KeyHierarchy,
    sessions: SessionService,
    browser_sessions: BrowserSessions,
) -> OidcLoginService:
    directory = IssuerDirectory.with_timeout(
        settings.oidc_http_timeout_s,
        allow_http=settings.insecure_oidc_http_issuers,
        metadata_ttl_s=settings.oidc_metadata_ttl_s,
        min_refresh_s=settings.oidc_jwks_min_refresh_s,
    )
    return OidcLoginService(
        database,
        keyring,
        directory,
        sessions,
        public_url=settings.issuer,
        ttl_s=settings.oidc_login_ttl_s,
        sign_ins=browser_sessions,
    )
