"""The composition root: settings in, a wired platform out.

This is the only place that decides which implementation stands behind each
port. The API, the CLI and the tests all build the platform here and are
handed what it built; nothing fetches a collaborator from a global.
"""

from __future__ import annotations

from dataclasses import dataclass

from qplane.audit.service import AuditService
from qplane.backends.catalogue import BackendCatalogue, default_catalogue
from qplane.broker.dispatch import DispatchService
from qplane.broker.jobs import JobService
from qplane.broker.signal import WorkSignal
from qplane.broker.sweeper import Sweeper
from qplane.broker.tenancy import TenancyService
from qplane.broker.workers import WorkerRegistry
from qplane.config import Settings
from qplane.crypto.keyring import LocalKeyring
from qplane.identity.authenticate import Authenticator
from qplane.identity.login import LoginService
from qplane.identity.signing import SigningKeys
from qplane.identity.tokens import TokenIssuer, TokenVerifier
from qplane.store.database import Database

INTERNAL_TOKEN_PATH = "/internal/v1/token"


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
    tenancy: TenancyService
    jobs: JobService
    dispatch: DispatchService
    workers: WorkerRegistry
    sweeper: Sweeper
    audit: AuditService

    def close(self) -> None:
        self.database.dispose()


def build_platform(settings: Settings, *, upgrade: bool = True) -> Platform:
    """Wire every service from *settings*; upgrades the schema first unless told not to."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = Database(settings.effective_database_url)
    if upgrade:
        database.upgrade()
    keyring = LocalKeyring.from_settings(settings)
    catalogue = default_catalogue()
    signing = SigningKeys.load_or_create(settings.key_dir)
    work = WorkSignal()
    issuer = TokenIssuer(signing, settings.issuer, settings.token_audience, settings.token_ttl_s)
    verifier = TokenVerifier(signing, settings.issuer, settings.token_audience)
    return Platform(
        settings=settings,
        database=database,
        catalogue=catalogue,
        signing_keys=signing,
        issuer=issuer,
        verifier=verifier,
        authenticator=Authenticator(database, verifier),
        login=LoginService(database, issuer),
        tenancy=TenancyService(database, keyring),
        jobs=JobService(database, catalogue, keyring, settings.max_payload_bytes, work),
        dispatch=DispatchService(database, keyring, settings.lease_ttl_s, work),
        workers=WorkerRegistry(
            database, issuer, settings.issuer + INTERNAL_TOKEN_PATH, settings.worker_token_ttl_s
        ),
        sweeper=Sweeper(database, settings.max_attempts, settings.retention_days, work),
        audit=AuditService(database),
    )
