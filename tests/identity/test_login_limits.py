"""Password login: once an account has too many recent failures, even the right password waits."""

from __future__ import annotations

import pytest

from qplane.domain import ids
from qplane.domain.clock import utcnow
from qplane.domain.errors import QuotaExceeded, Unauthenticated
from qplane.domain.tenancy import Principal, PrincipalKind, Role, Tenant
from qplane.identity.login import LoginService
from qplane.identity.passwords import hash_password
from qplane.identity.sessions import SessionService
from qplane.identity.signing import SigningKeys
from qplane.identity.tokens import TokenIssuer
from qplane.store.database import Database

EMAIL, PASSWORD, WRONG = "alice@acme.test", "alice-password-1", "wrong-password-1"
WINDOW = 900


class Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def login(database: Database, clock: Clock) -> LoginService:
    issuer = TokenIssuer(SigningKeys.ephemeral(), "https://qplane.test", "qplane-api", 600)
    tenant = Tenant(ids.new_id(ids.TENANT), "acme", 4, utcnow())
    principal = Principal(
        ids.new_id(ids.PRINCIPAL), PrincipalKind.USER, tenant.id, EMAIL, frozenset({Role.MEMBER})
    )
    with database.unit_of_work() as uow:
        uow.tenants.add(tenant)
        uow.principals.add(principal, hash_password(PASSWORD))
        uow.commit()
    return LoginService(
        database,
        SessionService(database, issuer, 3600),
        max_failures_per_account=2,
        max_failures_per_source=100,
        failure_window_s=WINDOW,
        clock=clock,
    )


def test_the_right_password_is_refused_until_the_window_passes(
    login: LoginService, clock: Clock
) -> None:
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            login.login(EMAIL, WRONG)
    clock.now += WINDOW - 1
    with pytest.raises(QuotaExceeded):
        login.login(EMAIL, PASSWORD)
    clock.now += 1
    assert login.login(EMAIL, PASSWORD).refresh_token is not None


def test_attempts_refused_by_the_limit_do_not_extend_it(login: LoginService, clock: Clock) -> None:
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            login.login(EMAIL, WRONG)
    for _ in range(5):
        clock.now += 100
        with pytest.raises(QuotaExceeded):
            login.login(EMAIL, WRONG)
    clock.now += WINDOW - 500
    assert login.login(EMAIL, PASSWORD).refresh_token is not None


def test_the_email_is_counted_however_it_is_typed(login: LoginService) -> None:
    with pytest.raises(Unauthenticated):
        login.login(EMAIL, WRONG)
    with pytest.raises(Unauthenticated):
        login.login("  ALICE@acme.test ", WRONG)
    with pytest.raises(QuotaExceeded):
        login.login(EMAIL, PASSWORD)
