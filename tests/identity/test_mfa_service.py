"""MFA service: TOTP steps are single-use, drift is bounded, lockout, recovery codes, sealing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pyotp
import pytest

from qplane.crypto.hierarchy import KeyHierarchy
from qplane.crypto.keyring import LocalKeyring, load_or_create_root_key
from qplane.crypto.providers import KeyProviders
from qplane.domain import ids
from qplane.domain.clock import utcnow
from qplane.domain.errors import IntegrityError, QuotaExceeded, Unauthenticated
from qplane.domain.tenancy import Principal, PrincipalKind, Role, Tenant
from qplane.identity.mfa import MAX_FAILURES, MfaService
from qplane.identity.mfa_codes import recovery_code_digest
from qplane.identity.sessions import SessionService
from qplane.identity.signing import SigningKeys
from qplane.identity.stepup import MFA_ACR
from qplane.identity.tokens import TokenIssuer
from qplane.policy.actor import Actor
from qplane.store.database import Database


class Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_000.0  # the start of a 30 s step

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def keyring(tmp_path: Path) -> KeyHierarchy:
    return KeyHierarchy(KeyProviders(LocalKeyring(load_or_create_root_key(tmp_path / "root.key"))))


@pytest.fixture
def mfa(database: Database, keyring: KeyHierarchy, clock: Clock) -> MfaService:
    issuer = TokenIssuer(
        SigningKeys.ephemeral(), "https://qplane.test", "qplane-api", 600, clock=clock
    )
    return MfaService(
        database, keyring, SessionService(database, issuer, 3600, clock=clock), clock=clock
    )


def _principal(database: Database, keyring: KeyHierarchy, *, operator: bool = False) -> Principal:
    tenant = (
        None
        if operator
        else Tenant(ids.new_id(ids.TENANT), "t" + ids.new_id(ids.TENANT)[-12:], 4, utcnow())
    )
    principal = Principal(
        ids.new_id(ids.PRINCIPAL),
        PrincipalKind.OPERATOR if operator else PrincipalKind.USER,
        None if tenant is None else tenant.id,
        f"{ids.new_id(ids.PRINCIPAL)}@acme.test",
        frozenset({Role.OPERATOR if operator else Role.MEMBER}),
    )
    with database.unit_of_work() as uow:
        if tenant is not None:
            uow.tenants.add(tenant)
            keyring.create_ring(uow, tenant.id)
        uow.principals.add(principal, None)
        uow.commit()
    return principal


def _actor(principal: Principal, amr: tuple[str, ...] = ("pwd",)) -> Actor:
    return Actor(principal.id, principal.kind, principal.tenant_id, principal.roles, amr=amr)


def _enrolled(mfa: MfaService, principal: Principal, clock: Clock) -> tuple[pyotp.TOTP, list[str]]:
    enrolment = mfa.enrol_totp(_actor(principal))
    totp = pyotp.TOTP(enrolment.secret)
    activation = mfa.confirm_totp(_actor(principal), totp.at(clock.now))
    assert activation.tokens.claims.acr == MFA_ACR
    assert activation.tokens.claims.amr == ("pwd", "otp")
    return totp, activation.recovery_codes


@pytest.fixture
def alice(database: Database, keyring: KeyHierarchy) -> Principal:
    return _principal(database, keyring)


def test_a_time_step_is_accepted_once(mfa: MfaService, alice: Principal, clock: Clock) -> None:
    totp, _ = _enrolled(mfa, alice, clock)
    clock.now += 30
    code = totp.at(clock.now)
    assert mfa.verify_second_factor(alice, totp=code) == "otp"
    with pytest.raises(Unauthenticated):
        mfa.verify_second_factor(alice, totp=code)


def test_an_older_step_is_refused_after_a_newer_one(
    mfa: MfaService, alice: Principal, clock: Clock
) -> None:
    totp, _ = _enrolled(mfa, alice, clock)
    clock.now += 60
    older = totp.at(clock.now - 30)
    assert mfa.verify_second_factor(alice, totp=totp.at(clock.now)) == "otp"
    with pytest.raises(Unauthenticated):
        mfa.verify_second_factor(alice, totp=older)


def test_drift_is_one_step_either_side(mfa: MfaService, alice: Principal, clock: Clock) -> None:
    totp, _ = _enrolled(mfa, alice, clock)
    clock.now += 300
    with pytest.raises(Unauthenticated):
        mfa.verify_second_factor(alice, totp=totp.at(clock.now - 60))
    assert mfa.verify_second_factor(alice, totp=totp.at(clock.now + 30)) == "otp"


def test_totp_locks_after_repeated_failures_and_a_recovery_code_unlocks(
    mfa: MfaService, alice: Principal, clock: Clock
) -> None:
    totp, codes = _enrolled(mfa, alice, clock)
    for _ in range(MAX_FAILURES):
        clock.now += 300  # a slow guesser, below the window limit: the lock still comes
        with pytest.raises(Unauthenticated):
            mfa.verify_second_factor(alice, totp="000000")
    clock.now += 30
    with pytest.raises(Unauthenticated):
        mfa.verify_second_factor(alice, totp=totp.at(clock.now))  # locked, even if right
    assert mfa.verify_second_factor(alice, recovery_code=codes[0]) == "mfa"
    clock.now += 30
    assert mfa.verify_second_factor(alice, totp=totp.at(clock.now)) == "otp"


def test_wrong_codes_of_either_kind_are_limited_in_a_window_even_before_the_lock(
    database: Database, mfa: MfaService, alice: Principal, clock: Clock
) -> None:
    totp, codes = _enrolled(mfa, alice, clock)
    for guess in ("000000", "aaaa-bbbb-cccc", "000001", "aaaa-bbbb-cccd", "000002"):
        kind = "recovery_code" if "-" in guess else "totp"
        with pytest.raises(Unauthenticated):
            mfa.verify_second_factor(alice, **{kind: guess})
    clock.now += 30
    with pytest.raises(QuotaExceeded) as refused:
        mfa.verify_second_factor(alice, recovery_code=codes[0])  # right, but too late
    assert 0 < refused.value.extensions["retry_after_s"] <= 900
    with database.unit_of_work() as uow:
        assert uow.mfa.unused_recovery_codes(alice.id) == 10  # the refused code is not spent
        details = [entry.detail for entry in uow.audit.entries(alice.tenant_id or "")]
    assert "too many wrong second-factor codes; try again later" in details
    clock.now += 900
    assert mfa.verify_second_factor(alice, totp=totp.at(clock.now)) == "otp"


def test_recovery_codes_are_single_use_and_stored_as_digests(
    database: Database, mfa: MfaService, alice: Principal, clock: Clock
) -> None:
    _, codes = _enrolled(mfa, alice, clock)
    assert mfa.verify_second_factor(alice, recovery_code=codes[3]) == "mfa"
    with pytest.raises(Unauthenticated):
        mfa.verify_second_factor(alice, recovery_code=codes[3])
    with database.unit_of_work() as uow:
        assert uow.mfa.unused_recovery_codes(alice.id) == 9
        assert not uow.mfa.use_recovery_code(alice.id, codes[4], utcnow())  # plaintext: no match
        assert uow.mfa.use_recovery_code(alice.id, recovery_code_digest(codes[4]), utcnow())


def test_no_second_factor_before_confirmation(mfa: MfaService, alice: Principal) -> None:
    enrolment = mfa.enrol_totp(_actor(alice))
    with pytest.raises(Unauthenticated):
        mfa.verify_second_factor(alice, totp=pyotp.TOTP(enrolment.secret).now())
    assert not mfa.is_enrolled(alice.id)


def test_operator_secret_is_sealed_under_the_platform_key(
    database: Database, keyring: KeyHierarchy, mfa: MfaService, clock: Clock
) -> None:
    operator = _principal(database, keyring, operator=True)
    totp, _ = _enrolled(mfa, operator, clock)
    with database.unit_of_work() as uow:
        assert uow.key_rings.latest("platform/mfa") is not None
    clock.now += 30
    assert mfa.verify_second_factor(operator, totp=totp.at(clock.now)) == "otp"


def test_a_sealed_secret_moved_to_another_principal_does_not_open(
    database: Database, keyring: KeyHierarchy, mfa: MfaService, alice: Principal, clock: Clock
) -> None:
    _enrolled(mfa, alice, clock)
    mallory = _principal(database, keyring)
    with database.unit_of_work() as uow:
        stolen = uow.mfa.totp_for_update(alice.id)
        assert stolen is not None
        uow.mfa.put_totp(replace(stolen, principal_id=mallory.id, tenant_id=mallory.tenant_id))
        uow.commit()
    with pytest.raises(IntegrityError):
        mfa.verify_second_factor(mallory, totp="123456")
