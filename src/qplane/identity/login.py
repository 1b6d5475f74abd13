"""Local-account login: email and password in, a session (access + refresh token) out."""

from __future__ import annotations

from typing import Protocol

from qplane.audit.log import record
from qplane.domain.audit import AuditEvent, Outcome
from qplane.domain.errors import Unauthenticated
from qplane.domain.ports import UnitOfWorkFactory
from qplane.domain.tenancy import Principal
from qplane.identity.passwords import DUMMY_HASH, hash_password, needs_rehash, verify_password
from qplane.identity.sessions import SessionService, TokenPair

_REFUSAL = "invalid email or password"
PASSWORD_ACR = "urn:qplane:acr:pwd"


class SecondFactorGate(Protocol):
    """Raises (with what the client needs for the second step) when *principal* has MFA."""

    def require_second_factor(self, principal: Principal, request_id: str | None) -> None: ...


class LoginService:
    """Checks local credentials and issues access tokens.

    Every failure gives the same message and takes the same time whether the
    email exists or not (a dummy hash is checked for unknown emails), so
    login cannot be used to enumerate accounts. Every attempt is audited.
    """

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        sessions: SessionService,
        second_factor: SecondFactorGate | None = None,
    ) -> None:
        self._uow = uow_factory
        self._sessions = sessions
        self._second_factor = second_factor

    def login(
        self,
        email: str,
        password: str,
        request_id: str | None = None,
        dpop_jkt: str | None = None,
    ) -> TokenPair:
        with self._uow() as uow:
            found = uow.principals.for_login(email.strip().lower())
        principal, stored = found if found is not None else (None, None)
        valid = verify_password(stored or DUMMY_HASH, password)
        if principal is None or stored is None or not valid or principal.disabled:
            self._audit(None, principal.id if principal else None, Outcome.DENIED, request_id)
            raise Unauthenticated(_REFUSAL)
        if needs_rehash(stored):
            with self._uow() as uow:
                uow.principals.set_password_hash(principal.id, hash_password(password))
                uow.commit()
        if self._second_factor is not None:
            # An enrolled account gets no session for the password alone.
            self._second_factor.require_second_factor(principal, request_id)
        pair = self._sessions.start(
            principal, amr=("pwd",), acr=PASSWORD_ACR, request_id=request_id, dpop_jkt=dpop_jkt
        )
        self._audit(
            principal.tenant_id,
            principal.id,
            Outcome.SUCCESS,
            request_id,
            f"token {pair.claims.jti} issued",
        )
        return pair

    def _audit(
        self,
        tenant_id: str | None,
        actor_id: str | None,
        outcome: Outcome,
        request_id: str | None,
        detail: str | None = None,
    ) -> None:
        with self._uow() as uow:
            record(
                uow,
                AuditEvent(
                    "auth.login",
                    outcome,
                    tenant_id,
                    actor_id,
                    actor_id,
                    request_id,
                    detail or "password login",
                ),
            )
            uow.commit()
