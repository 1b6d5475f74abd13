"""The sweeper forgets identity state whose time is over, and nothing a check still needs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from qplane.broker.sweeper import PURGE_BATCH, PURGE_INTERVAL_S, Sweeper
from qplane.domain import ids
from qplane.domain.browser import BrowserSession
from qplane.domain.clock import utcnow
from qplane.domain.errors import Unauthenticated
from qplane.domain.mfa import DeviceAuthorization, DeviceStatus
from qplane.domain.tenancy import Principal, PrincipalKind, Role, Tenant
from qplane.identity.sessions import SessionService
from qplane.identity.signing import SigningKeys
from qplane.identity.tokens import TokenIssuer
from qplane.store.database import Database
from qplane.store.models_browser import BrowserSessionRow
from qplane.store.models_mfa_device import DeviceAuthorizationRow
from qplane.store.models_sessions import RefreshTokenRow
from qplane.store.models_workload import SeenTokenIdRow

TTL = 3600
T0 = 1_900_000_000.0


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sessions(database: Database, clock: Clock) -> SessionService:
    issuer = TokenIssuer(SigningKeys.ephemeral(), "https://qplane.test", "qplane-api", 600)
    return SessionService(database, issuer, TTL, clock=clock)


@pytest.fixture
def sweeper(database: Database) -> Sweeper:
    return Sweeper(database, 3, 30.0, refresh_token_ttl_s=TTL)


@pytest.fixture
def alice(database: Database) -> Principal:
    tenant = Tenant(ids.new_id(ids.TENANT), "acme", 4, utcnow())
    principal = Principal(
        ids.new_id(ids.PRINCIPAL), PrincipalKind.USER, tenant.id, "alice@acme.test",
        frozenset({Role.MEMBER}),
    )  # fmt: skip
    with database.unit_of_work() as uow:
        uow.tenants.add(tenant)
        uow.principals.add(principal, None)
        uow.commit()
    return principal


def _rows(database: Database, model: type[object]) -> int:
    with database.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model)).scalar_one())


def test_a_rotated_token_is_still_recognised_as_reuse_after_every_purge_of_its_live_family(
    database: Database, sessions: SessionService, sweeper: Sweeper, alice: Principal, clock: Clock
) -> None:
    first = sessions.start(alice, amr=("pwd",), acr="pwd").refresh_token
    assert first is not None
    clock.now += TTL - 60
    second = sessions.refresh(first).refresh_token
    assert second is not None
    sweeper.purge_expired(_at(clock.now + 59))  # the family's last live second
    assert _rows(database, RefreshTokenRow) == 2
    with pytest.raises(Unauthenticated, match="reused"):
        sessions.refresh(first)
    with pytest.raises(Unauthenticated, match="revoked"):
        sessions.refresh(second)


def test_a_family_is_purged_a_refresh_lifetime_after_it_expired(
    database: Database, sessions: SessionService, sweeper: Sweeper, alice: Principal, clock: Clock
) -> None:
    token = sessions.start(alice, amr=("pwd",), acr="pwd").refresh_token
    assert token is not None
    sessions.refresh(token)
    family_end = T0 + TTL
    assert sweeper.purge_expired(_at(family_end + TTL - 1)) == (0, False)
    assert _rows(database, RefreshTokenRow) == 2
    assert sweeper.purge_expired(_at(family_end + TTL + 1)) == (2, False)
    assert _rows(database, RefreshTokenRow) == 0


def test_a_family_is_purged_a_refresh_lifetime_after_it_was_revoked(
    database: Database, sessions: SessionService, sweeper: Sweeper, alice: Principal, clock: Clock
) -> None:
    stolen = sessions.start(alice, amr=("pwd",), acr="pwd").refresh_token
    live = sessions.start(alice, amr=("pwd",), acr="pwd").refresh_token
    assert stolen is not None
    assert live is not None
    sessions.refresh(stolen)
    with pytest.raises(Unauthenticated, match="reused"):
        sessions.refresh(stolen)  # revokes the stolen family at T0
    sweeper.purge_expired(_at(T0 + TTL - 1))
    assert _rows(database, RefreshTokenRow) == 3
    sweeper.purge_expired(_at(T0 + TTL + 1))
    assert _rows(database, RefreshTokenRow) == 1
    assert sessions.refresh(live).refresh_token is not None  # another session is untouched


def test_expired_ids_and_device_grants_are_purged_one_bounded_batch_at_a_time(
    database: Database, sweeper: Sweeper
) -> None:
    with database.unit_of_work() as uow:
        for n in range(PURGE_BATCH + 3):
            assert uow.seen_token_ids.first_use("fed", f"jti-{n}", _at(T0 + 10), _at(T0))
        assert uow.seen_token_ids.first_use("fed", "still-live", _at(T0 + 100), _at(T0))
        for n in range(2):
            uow.device_grants.add(_grant(f"EXPIRED{n}", expires_at=_at(T0 + 10)))
        uow.device_grants.add(_grant("PENDINGX", expires_at=_at(T0 + 100)))
        uow.commit()
    assert sweeper.purge_expired(_at(T0 + 20)) == (PURGE_BATCH + 2, True)
    assert sweeper.purge_expired(_at(T0 + 20)) == (3, False)
    assert _rows(database, SeenTokenIdRow) == 1
    assert _rows(database, DeviceAuthorizationRow) == 1


def test_sweeps_purge_once_a_minute_unless_a_backlog_is_left(database: Database) -> None:
    monotonic = Clock(0.0)
    sweeper = Sweeper(database, 3, 30.0, refresh_token_ttl_s=TTL, monotonic=monotonic)
    _expired_ids(database, PURGE_BATCH + 1)
    assert sweeper.sweep().purged == PURGE_BATCH  # a full batch: more is waiting
    assert sweeper.sweep().purged == 1
    _expired_ids(database, 1)
    assert sweeper.sweep().purged == 0  # not due yet
    monotonic.now += PURGE_INTERVAL_S
    assert sweeper.sweep().purged == 1


def _expired_ids(database: Database, count: int) -> None:
    past = utcnow() - timedelta(minutes=5)
    with database.unit_of_work() as uow:
        for _ in range(count):
            uow.seen_token_ids.first_use("fed", ids.new_id("jti"), past, past)
        uow.commit()


def _grant(user_code: str, *, expires_at: datetime) -> DeviceAuthorization:
    return DeviceAuthorization(
        device_code_hash=ids.new_id("dev"),
        user_code=user_code,
        client_id="qplane-cli",
        status=DeviceStatus.PENDING,
        interval_s=5,
        created_at=expires_at - timedelta(minutes=10),
        expires_at=expires_at,
    )


def test_expired_device_page_sessions_are_purged(database: Database, sweeper: Sweeper) -> None:
    with database.unit_of_work() as uow:
        for n, expires in enumerate((T0 + 10, T0 + 100)):
            uow.browser_sessions.add(
                BrowserSession(f"{n:064d}", "c" * 64, "BCDFGHJK", _at(T0), _at(expires))
            )
        uow.commit()

    assert sweeper.purge_expired(_at(T0 + 20)) == (1, False)
    assert _rows(database, BrowserSessionRow) == 1
