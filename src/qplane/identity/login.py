"""Local-account login: email and password in, a short-lived platform token out."""

from __future__ import annotations

from qplane.audit.log import record
from qplane.domain.audit import AuditEvent, Outcome
from qplane.domain.errors import Unauthenticated
from qplane.domain.ports import UnitOfWorkFactory
from qplane.identity.passwords import DUMMY_HASH, hash_password, needs_rehash, verify_password
from qplane.identity.tokens import AccessClaims, TokenIssuer

_REFUSAL = "invalid email or password"


class LoginService:
    """Checks local credentials and issues access tokens.

    Every failure gives the same message and takes the same time whether the
    email exists or not (a dummy hash is checked for unknown emails), so
    login cannot be used to enumerate accounts. Every attempt is audited.
    """

    def __init__(self, uow_factory: UnitOfWorkFactory, issuer: TokenIssuer) -> None:
        self._uow = uow_factory
        self._issuer = issuer

    def login(
        self, email: str, password: str, request_id: str | None = None
    ) -> tuple[str, AccessClaims]:
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
        token, claims = self._issuer.issue(
            subject=principal.id,
            tenant=principal.tenant_id,
            roles=frozenset(role.value for role in principal.roles),
            kind=principal.kind.value,
        )
        self._audit(
            principal.tenant_id,
            principal.id,
            Outcome.SUCCESS,
            request_id,
            f"token {claims.jti} issued",
        )
        return token, claims

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
