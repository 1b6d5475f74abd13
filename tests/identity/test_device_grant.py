"""RFC 8628 device grant: pending, slow_down, denied, expired, redeemed exactly once."""

from __future__ import annotations

import pytest

from qplane.domain import ids
from qplane.domain.clock import utcnow
from qplane.domain.errors import NotFound, QuotaExceeded
from qplane.domain.tenancy import Principal, PrincipalKind, Role, Tenant
from qplane.identity.device import (
    GUESS_WINDOW_S,
    MAX_WRONG_USER_CODES,
    USER_CODE_ALPHABET,
    DeviceGrantService,
    OAuthError,
    device_code_digest,
)
from qplane.identity.sessions import SessionService
from qplane.identity.signing import SigningKeys
from qplane.identity.tokens import TokenIssuer
from qplane.policy.actor import Actor
from qplane.store.database import Database
from qplane.store.models_mfa_device import DeviceAuthorizationRow

CLIENT = "qplane-cli"


class Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def device(database: Database, clock: Clock) -> DeviceGrantService:
    issuer = TokenIssuer(
        SigningKeys.ephemeral(), "https://qplane.test", "qplane-api", 600, clock=clock
    )
    sessions = SessionService(database, issuer, 3600, clock=clock)
    return DeviceGrantService(
        database, sessions, "https://qplane.test/device", ttl_s=600, interval_s=5, clock=clock
    )


@pytest.fixture
def alice(database: Database) -> Actor:
    tenant = Tenant(ids.new_id(ids.TENANT), "acme", 4, utcnow())
    principal = Principal(
        ids.new_id(ids.PRINCIPAL), PrincipalKind.USER, tenant.id, "alice@acme.test",
        frozenset({Role.MEMBER}),
    )  # fmt: skip
    with database.unit_of_work() as uow:
        uow.tenants.add(tenant)
        uow.principals.add(principal, None)
        uow.commit()
    return Actor(
        principal.id, principal.kind, tenant.id, principal.roles,
        amr=("pwd", "otp"), acr="urn:qplane:acr:mfa", auth_time=1_899_999_900,
    )  # fmt: skip


def _error(device: DeviceGrantService, device_code: str) -> str:
    with pytest.raises(OAuthError) as caught:
        device.poll(CLIENT, device_code)
    return caught.value.error


def test_user_codes_use_the_unambiguous_alphabet(device: DeviceGrantService) -> None:
    started = device.start(CLIENT)
    letters = started.user_code.replace("-", "")
    assert len(letters) == 8
    assert set(letters) <= set(USER_CODE_ALPHABET)
    assert started.verification_uri_complete.endswith("?user_code=" + started.user_code)
    assert (started.expires_in, started.interval) == (600, 5)


def test_unknown_clients_are_refused(device: DeviceGrantService) -> None:
    with pytest.raises(OAuthError) as caught:
        device.start("someone-else")
    assert caught.value.error == "invalid_client"


def test_the_device_code_is_stored_only_as_a_digest(
    database: Database, device: DeviceGrantService
) -> None:
    started = device.start(CLIENT)
    with database.unit_of_work() as uow:
        grant = uow.device_grants.by_device_code_for_update(device_code_digest(started.device_code))
        assert grant is not None
        stored = uow.device_grants.by_device_code_for_update(started.device_code)
    assert stored is None
    assert DeviceAuthorizationRow.__table__.c.keys().count("device_code") == 0


def test_pending_then_slow_down_then_approved_once(
    device: DeviceGrantService, alice: Actor, clock: Clock
) -> None:
    started = device.start(CLIENT)
    assert _error(device, started.device_code) == "authorization_pending"
    clock.now += 1
    assert _error(device, started.device_code) == "slow_down"
    device.decide(alice, started.user_code.lower(), approve=True)
    clock.now += 5  # the interval grew to 10 s: still too fast (and now 15 s)
    assert _error(device, started.device_code) == "slow_down"
    clock.now += 15
    pair = device.poll(CLIENT, started.device_code)
    assert pair.claims.sub == alice.principal_id
    assert pair.claims.amr == ("pwd", "otp")
    assert pair.claims.auth_time == alice.auth_time  # approving never freshens MFA
    assert pair.claims.client_id == CLIENT
    assert pair.refresh_token
    clock.now += 60
    assert _error(device, started.device_code) == "invalid_grant"


def test_denied(device: DeviceGrantService, alice: Actor) -> None:
    started = device.start(CLIENT)
    device.decide(alice, started.user_code, approve=False)
    assert _error(device, started.device_code) == "access_denied"


def test_expired(device: DeviceGrantService, alice: Actor, clock: Clock) -> None:
    started = device.start(CLIENT)
    clock.now += 601
    assert _error(device, started.device_code) == "expired_token"
    with pytest.raises(NotFound):
        device.decide(alice, started.user_code, approve=True)


def test_a_decided_code_cannot_be_decided_again(device: DeviceGrantService, alice: Actor) -> None:
    started = device.start(CLIENT)
    device.decide(alice, started.user_code, approve=False)
    with pytest.raises(NotFound):
        device.decide(alice, started.user_code, approve=True)


def test_wrong_device_code_or_client(device: DeviceGrantService) -> None:
    started = device.start(CLIENT)
    assert _error(device, "not-a-device-code") == "invalid_grant"
    with pytest.raises(OAuthError):
        device.poll("other-client", started.device_code)


def test_user_code_guessing_is_rate_limited(device: DeviceGrantService, alice: Actor) -> None:
    started = device.start(CLIENT)
    for _ in range(MAX_WRONG_USER_CODES):
        with pytest.raises(NotFound):
            device.decide(alice, "BBBB-BBBB", approve=True)
    with pytest.raises(QuotaExceeded):
        device.decide(alice, started.user_code, approve=True)


def test_user_code_guesses_are_counted_across_servers(
    database: Database, device: DeviceGrantService, alice: Actor, clock: Clock
) -> None:
    issuer = TokenIssuer(
        SigningKeys.ephemeral(), "https://qplane.test", "qplane-api", 600, clock=clock
    )
    other_server = DeviceGrantService(
        database,
        SessionService(database, issuer, 3600, clock=clock),
        "https://qplane.test/device",
        clock=clock,
    )
    started = device.start(CLIENT)
    for n in range(MAX_WRONG_USER_CODES):  # the guesses alternate between the two servers
        with pytest.raises(NotFound):
            (device, other_server)[n % 2].decide(alice, "BBBB-BBBB", approve=True)
    for server in (device, other_server):
        with pytest.raises(QuotaExceeded):
            server.decide(alice, started.user_code, approve=True)
    clock.now += GUESS_WINDOW_S
    fresh = other_server.start(CLIENT)
    other_server.decide(alice, fresh.user_code, approve=True)
