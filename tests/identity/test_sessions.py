"""Sessions: refresh tokens are opaque, hashed, bound, single-use, and end with their family."""

from __future__ import annotations

import base64
from dataclasses import replace

import pytest
from sqlalchemy import select

from qplane.domain import ids
from qplane.domain.audit import Outcome
from qplane.domain.clock import utcnow
from qplane.domain.errors import Unauthenticated
from qplane.domain.sessions import RevocationScope
from qplane.domain.tenancy import Principal, PrincipalKind, Role, Tenant
from qplane.identity.sessions import REFRESH_PREFIX, SessionService, refresh_token_digest
from qplane.identity.signing import SigningKeys
from qplane.identity.tokens import TokenIssuer, TokenVerifier
from qplane.store.database import Database
from qplane.store.models_sessions import RefreshTokenRow

ISSUER, AUDIENCE = "https://qplane.test", "qplane-api"
TTL = 3600


class Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def keys() -> SigningKeys:
    return SigningKeys.ephemeral()


@pytest.fixture
def sessions(database: Database, keys: SigningKeys, clock: Clock) -> SessionService:
    issuer = TokenIssuer(keys, ISSUER, AUDIENCE, 600, clock=clock)
    return SessionService(database, issuer, TTL, clock=clock)


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


def _audit_actions(database: Database, tenant_id: str) -> list[tuple[str, Outcome]]:
    with database.unit_of_work() as uow:
        return [(e.action, e.outcome) for e in uow.audit.entries(tenant_id)]


def test_start_issues_a_profiled_access_token_and_an_opaque_refresh_token(
    sessions: SessionService, alice: Principal, keys: SigningKeys, clock: Clock
) -> None:
    pair = sessions.start(alice, amr=("pwd", "otp"), acr="urn:qplane:acr:mfa", auth_time=1234)
    claims = TokenVerifier(keys, ISSUER, AUDIENCE, clock=clock).verify(pair.access_token)
    assert (claims.sub, claims.tenant, claims.amr, claims.acr) == (
        alice.id, alice.tenant_id, ("pwd", "otp"), "urn:qplane:acr:mfa",
    )  # fmt: skip
    assert claims.auth_time == 1234
    assert pair.expires_in == 600
    assert pair.token_type == "Bearer"
    assert pair.refresh_token is not None
    assert pair.refresh_token.startswith(REFRESH_PREFIX)
    secret = pair.refresh_token.removeprefix(REFRESH_PREFIX)
    assert len(base64.urlsafe_b64decode(secret + "=")) * 8 >= 256
    assert pair.refresh_token not in repr(pair)
    assert pair.access_token not in repr(pair)


def test_refresh_token_is_stored_only_as_its_sha256_digest(
    sessions: SessionService, alice: Principal, database: Database
) -> None:
    pair = sessions.start(alice, amr=("pwd",), acr="urn:qplane:acr:pwd")
    assert pair.refresh_token is not None
    with database.engine.connect() as conn:
        rows = conn.execute(select(RefreshTokenRow)).all()
    assert [row.token_hash for row in rows] == [refresh_token_digest(pair.refresh_token)]
    assert all(pair.refresh_token not in str(tuple(row)) for row in rows)


def test_without_refresh_no_refresh_token_exists(
    sessions: SessionService, alice: Principal, database: Database
) -> None:
    assert sessions.start(alice, amr=("pwd",), acr="a", with_refresh=False).refresh_token is None
    with database.engine.connect() as conn:
        assert conn.execute(select(RefreshTokenRow)).all() == []


def test_refresh_rotates_and_keeps_how_the_user_authenticated(
    sessions: SessionService, alice: Principal, keys: SigningKeys, clock: Clock
) -> None:
    first = sessions.start(alice, amr=("pwd", "otp"), acr="mfa", client_id="cli")
    assert first.refresh_token is not None
    clock.now += 700
    second = sessions.refresh(first.refresh_token)
    assert second.refresh_token not in (None, first.refresh_token)
    claims = TokenVerifier(keys, ISSUER, AUDIENCE, clock=clock).verify(second.access_token)
    assert (claims.amr, claims.acr, claims.client_id) == (("pwd", "otp"), "mfa", "cli")
    assert claims.auth_time == first.claims.auth_time < claims.iat  # refresh is not step-up


def test_reusing_a_rotated_refresh_token_revokes_the_family_and_is_audited(
    sessions: SessionService, alice: Principal, database: Database
) -> None:
    first = sessions.start(alice, amr=("pwd",), acr="pwd")
    assert first.refresh_token is not None
    second = sessions.refresh(first.refresh_token)
    assert second.refresh_token is not None
    with pytest.raises(Unauthenticated, match="reused"):
        sessions.refresh(first.refresh_token)
    with pytest.raises(Unauthenticated, match="revoked"):
        sessions.refresh(second.refresh_token)  # the thief's (or victim's) newer token died too
    assert alice.tenant_id is not None
    assert ("auth.session.revoke", Outcome.DENIED) in _audit_actions(database, alice.tenant_id)


def test_other_sessions_survive_a_family_revocation(
    sessions: SessionService, alice: Principal
) -> None:
    laptop = sessions.start(alice, amr=("pwd",), acr="pwd")
    phone = sessions.start(alice, amr=("pwd",), acr="pwd")
    assert laptop.refresh_token is not None
    assert phone.refresh_token is not None
    sessions.refresh(laptop.refresh_token)
    with pytest.raises(Unauthenticated):
        sessions.refresh(laptop.refresh_token)
    assert sessions.refresh(phone.refresh_token).refresh_token is not None


def test_refresh_tokens_expire_with_the_family_however_often_they_rotate(
    sessions: SessionService, alice: Principal, clock: Clock
) -> None:
    token = sessions.start(alice, amr=("pwd",), acr="pwd").refresh_token
    for _ in range(3):
        clock.now += TTL / 4
        assert token is not None
        token = sessions.refresh(token).refresh_token
    clock.now += TTL / 4
    assert token is not None
    with pytest.raises(Unauthenticated, match="expired"):
        sessions.refresh(token)


@pytest.mark.parametrize("presented", ["", "qprt_nope", "x" * 5000])
def test_unknown_refresh_tokens_are_refused(sessions: SessionService, presented: str) -> None:
    with pytest.raises(Unauthenticated, match="refresh token invalid"):
        sessions.refresh(presented)


def test_dpop_bound_refresh_token_needs_the_same_key(
    sessions: SessionService, alice: Principal
) -> None:
    pair = sessions.start(alice, amr=("pwd",), acr="pwd", dpop_jkt="thumb-a")
    assert pair.claims.cnf_jkt == "thumb-a"
    assert pair.refresh_token is not None
    for wrong in (None, "thumb-b"):
        with pytest.raises(Unauthenticated, match="bound"):
            sessions.refresh(pair.refresh_token, dpop_jkt=wrong)
    assert sessions.refresh(pair.refresh_token, dpop_jkt="thumb-a").claims.cnf_jkt == "thumb-a"


def test_principal_watermark_ends_refresh(
    sessions: SessionService, alice: Principal, database: Database, clock: Clock
) -> None:
    pair = sessions.start(alice, amr=("pwd",), acr="pwd")
    assert pair.refresh_token is not None
    with database.unit_of_work() as uow:
        uow.revocations.raise_watermark(RevocationScope.PRINCIPAL, alice.id, int(clock.now) + 1)
        uow.commit()
    with pytest.raises(Unauthenticated, match="revoked"):
        sessions.refresh(pair.refresh_token)


def test_refresh_uses_current_roles_and_refuses_disabled_principals(
    sessions: SessionService, alice: Principal, database: Database
) -> None:
    pair = sessions.start(alice, amr=("pwd",), acr="pwd")
    assert pair.refresh_token is not None
    with database.engine.begin() as conn:
        from qplane.store.models import PrincipalRow

        conn.execute(
            PrincipalRow.__table__.update().where(PrincipalRow.id == alice.id).values(disabled=True)
        )
    with pytest.raises(Unauthenticated, match="disabled"):
        sessions.refresh(pair.refresh_token)
    with pytest.raises(Unauthenticated, match="disabled"):
        sessions.start(replace(alice, disabled=True), amr=("pwd",), acr="pwd")
