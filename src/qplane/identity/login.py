"""Local-account login: email and password in, a session (access + refresh token) out."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NoReturn, Protocol

from qplane.audit.actors import source_address
from qplane.audit.log import record
from qplane.domain.audit import AuditEvent, Outcome
from qplane.domain.errors import QuotaExceeded, Unauthenticated
from qplane.domain.ports import UnitOfWork, UnitOfWorkFactory
from qplane.domain.tenancy import Principal
from qplane.identity.failure_limit import FailureLimit
from qplane.identity.passwords import DUMMY_HASH, hash_password, needs_rehash, verify_password
from qplane.identity.sessions import SessionService, TokenPair

_REFUSAL = "invalid email or password"
PASSWORD_ACR = "urn:qplane:acr:pwd"
#: The RFC 8176 method of a password login (its sessions' amr, its entries' auth method).
PASSWORD = "pwd"


class SecondFactorGate(Protocol):
    """Raises (with what the client needs for the second step) when *principal* has MFA."""

    def require_second_factor(self, principal: Principal, request_id: str | None) -> None: ...


class LoginService:
    """Checks local credentials and issues access tokens.

    Every failure gives the same message and takes the same time whether the
    email exists or not (a dummy hash is checked for unknown emails), so
    login cannot be used to enumerate accounts. Every attempt is audited.

    Guessing is limited in a sliding window shared by every API server
    (`FailureLimit`): wrong passwords per email (counted alike whether the
    account exists or not) and per source address. Past either limit every
    attempt, even with the right password, is refused with `QuotaExceeded`
    (and audited) until old failures leave the window.
    """

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        sessions: SessionService,
        second_factor: SecondFactorGate | None = None,
        *,
        max_failures_per_account: int = 10,
        max_failures_per_source: int = 50,
        failure_window_s: int = 900,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._uow = uow_factory
        self._sessions = sessions
        self._second_factor = second_factor
        self._clock = clock
        self._per_account = FailureLimit(
            "la",
            max_failures_per_account,
            failure_window_s,
            "too many failed logins for this account; try again later",
        )
        self._per_source = FailureLimit(
            "ls",
            max_failures_per_source,
            failure_window_s,
            "too many failed logins from this address; try again later",
        )

    def login(
        self,
        email: str,
        password: str,
        request_id: str | None = None,
        dpop_jkt: str | None = None,
        source_ip: str | None = None,
    ) -> TokenPair:
        """A session for the right email and password, else `Unauthenticated`.

        `QuotaExceeded` (before the password is even checked) once this email
        or *source_ip* made too many wrong attempts in the window.
        """
        account = email.strip().lower()
        self._check_limits(account, source_ip, request_id)
        with self._uow() as uow:
            found = uow.principals.for_login(account)
        principal, stored = found if found is not None else (None, None)
        valid = verify_password(stored or DUMMY_HASH, password)
        if principal is None or stored is None or not valid or principal.disabled:
            self._refuse(account, source_ip, principal, request_id)
        if needs_rehash(stored):
            with self._uow() as uow:
                uow.principals.set_password_hash(principal.id, hash_password(password))
                uow.commit()
        if self._second_factor is not None:
            # An enrolled account gets no session for the password alone.
            self._second_factor.require_second_factor(principal, request_id)
        pair = self._sessions.start(
            principal, amr=(PASSWORD,), acr=PASSWORD_ACR, request_id=request_id, dpop_jkt=dpop_jkt
        )
        self._audit(
            principal,
            request_id,
            f"token {pair.claims.jti} issued",
            source_ip,
        )
        return pair

    def _check_limits(self, account: str, source_ip: str | None, request_id: str | None) -> None:
        now = self._clock()
        with self._uow() as uow:
            try:
                self._per_account.check(uow, account, now)
                if source_ip is not None:
                    self._per_source.check(uow, source_ip, now)
            except QuotaExceeded as refused:
                found = uow.principals.for_login(account)  # names the target in the audit only
                actor_id = found[0].id if found is not None else None
                where = f" (source {source_ip})" if source_ip is not None else ""
                _record(
                    uow,
                    None,
                    actor_id,
                    Outcome.DENIED,
                    request_id,
                    refused.detail + where,
                    source_ip,
                )
                uow.commit()
                raise

    def _refuse(
        self,
        account: str,
        source_ip: str | None,
        principal: Principal | None,
        request_id: str | None,
    ) -> NoReturn:
        """Count the failure against the email and the address, audit it, and raise."""
        now = self._clock()
        with self._uow() as uow:
            self._per_account.record_failure(uow, account, now)
            if source_ip is not None:
                self._per_source.record_failure(uow, source_ip, now)
            actor_id = principal.id if principal is not None else None
            _record(uow, None, actor_id, Outcome.DENIED, request_id, None, source_ip)
            uow.commit()
        raise Unauthenticated(_REFUSAL)

    def _audit(
        self, principal: Principal, request_id: str | None, detail: str, source_ip: str | None
    ) -> None:
        with self._uow() as uow:
            _record(
                uow,
                principal.tenant_id,
                principal.id,
                Outcome.SUCCESS,
                request_id,
                detail,
                source_ip,
                actor_kind=principal.kind.value,
            )
            uow.commit()


def _record(
    uow: UnitOfWork,
    tenant_id: str | None,
    actor_id: str | None,
    outcome: Outcome,
    request_id: str | None,
    detail: str | None,
    source_ip: str | None,
    *,
    actor_kind: str | None = None,
) -> None:
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
            actor_kind=actor_kind,
            auth_method=PASSWORD,
            source_ip=source_address(source_ip),
        ),
    )
