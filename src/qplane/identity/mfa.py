"""Local-account MFA: TOTP enrolment, recovery codes, and checking a second factor.

Security properties:

* The TOTP secret leaves the server exactly once, in the answer to
  `MfaService.enrol_totp`; at rest it is sealed (`mfa_secrets`).
* Enrolment becomes active only after the user proves possession with a
  valid code (`confirm_totp`); only then are the 10 recovery codes made,
  shown once and stored as digests.
* A TOTP time step is accepted at most once per principal (replays fail),
  a recovery code at most once; after `MAX_FAILURES` consecutive wrong
  codes TOTP is locked and only a recovery code (which resets it) works.
* Wrong codes of either kind are also limited per account in a sliding
  window shared by every API server (`FailureLimit`): past it, every code,
  even a right one, is refused with `QuotaExceeded` until old failures age
  out, so recovery codes cannot be guessed at speed either.
* Replacing an active authenticator, or making new recovery codes, is
  privileged: it needs a recent MFA (`require_recent_mfa`), so a stolen
  password-only session cannot take over the second factor.
* Every enrolment, confirmation, use and failure is audited.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Final

from qplane.audit.actors import actor_facts
from qplane.audit.log import record
from qplane.crypto.hierarchy import KeyHierarchy
from qplane.domain.audit import AuditEvent, Outcome
from qplane.domain.errors import Conflict, QuotaExceeded, Unauthenticated, ValidationFailed
from qplane.domain.mfa import TotpCredential
from qplane.domain.ports import SealedArtifact, UnitOfWork, UnitOfWorkFactory
from qplane.domain.tenancy import Principal
from qplane.identity import mfa_codes
from qplane.identity.failure_limit import FailureLimit
from qplane.identity.mfa_secrets import open_secret, seal_secret
from qplane.identity.sessions import SessionService, TokenPair
from qplane.identity.stepup import MFA_ACR, require_recent_mfa
from qplane.policy.actor import Actor

MAX_FAILURES: Final = 10
_WRONG_CODE: Final = "invalid second-factor code"


@dataclass(frozen=True, slots=True)
class TotpEnrolment:
    """What enrolment shows the user once. ``repr`` hides the secret."""

    secret: str = field(repr=False)
    otpauth_uri: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class MfaActivation:
    """Recovery codes (shown once) and a session stepped up by the confirming code."""

    recovery_codes: list[str] = field(repr=False)
    tokens: TokenPair


class MfaService:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        keys: KeyHierarchy,
        sessions: SessionService,
        issuer_label: str = "qplane",
        *,
        max_failures_in_window: int = 5,
        failure_window_s: int = 900,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._uow = uow_factory
        self._keys = keys
        self._sessions = sessions
        self._label = issuer_label
        self._clock = clock
        self._failures = FailureLimit(
            "mf",
            max_failures_in_window,
            failure_window_s,
            "too many wrong second-factor codes; try again later",
        )

    def is_enrolled(self, principal_id: str) -> bool:
        with self._uow() as uow:
            credential = uow.mfa.totp_for_update(principal_id)
        return credential is not None and credential.active

    def status(self, actor: Actor) -> dict[str, object]:
        with self._uow() as uow:
            credential = uow.mfa.totp_for_update(actor.principal_id)
            left = uow.mfa.unused_recovery_codes(actor.principal_id)
        return {
            "totp": credential is not None and credential.active,
            "recovery_codes_left": left if credential is not None and credential.active else 0,
        }

    def enrol_totp(self, actor: Actor) -> TotpEnrolment:
        """Start (or restart) TOTP enrolment; the secret is returned this once."""
        secret = mfa_codes.new_secret()
        with self._uow() as uow:
            principal = uow.principals.get(actor.tenant_id, actor.principal_id)
            existing = uow.mfa.totp_for_update(principal.id)
            if existing is not None and existing.active:
                require_recent_mfa(actor)
            sealed = seal_secret(self._keys, uow, principal.tenant_id, principal.id, secret)
            uow.mfa.put_totp(_credential(principal, sealed, self._now()))
            _audit(uow, principal, "mfa.totp.enrol", Outcome.SUCCESS, actor.request_id, actor=actor)
            uow.commit()
        uri = mfa_codes.provisioning_uri(secret, principal.email, self._label)
        return TotpEnrolment(secret, uri)

    def confirm_totp(self, actor: Actor, code: str) -> MfaActivation:
        """Activate the pending authenticator with a valid *code*; make recovery codes."""
        with self._uow() as uow:
            principal = uow.principals.get(actor.tenant_id, actor.principal_id)
            credential = uow.mfa.totp_for_update(principal.id)
            if credential is None or credential.active:
                raise Conflict("no TOTP enrolment is pending: start one first")
            step = self._match(uow, credential, code)
            if step is None:
                _audit(
                    uow,
                    principal,
                    "mfa.totp.confirm",
                    Outcome.DENIED,
                    actor.request_id,
                    actor=actor,
                )
                uow.commit()
                raise ValidationFailed("the code does not match the authenticator", field="code")
            now = self._now()
            uow.mfa.put_totp(replace(credential, last_counter=step, confirmed_at=now, failures=0))
            codes = self._new_recovery_codes(uow, principal.id, now)
            _audit(
                uow, principal, "mfa.totp.confirm", Outcome.SUCCESS, actor.request_id, actor=actor
            )
            uow.commit()
        tokens = self._sessions.start(
            principal, amr=_with(actor.amr, "otp"), acr=MFA_ACR, request_id=actor.request_id
        )
        return MfaActivation(codes, tokens)

    def new_recovery_codes(self, actor: Actor) -> list[str]:
        """Replace every recovery code (privileged: needs a recent MFA)."""
        require_recent_mfa(actor)
        with self._uow() as uow:
            principal = uow.principals.get(actor.tenant_id, actor.principal_id)
            credential = uow.mfa.totp_for_update(principal.id)
            if credential is None or not credential.active:
                raise Conflict("enrol an authenticator first")
            codes = self._new_recovery_codes(uow, principal.id, self._now())
            _audit(
                uow, principal, "mfa.recovery.renew", Outcome.SUCCESS, actor.request_id, actor=actor
            )
            uow.commit()
        return codes

    def verify_second_factor(
        self,
        principal: Principal,
        *,
        totp: str | None = None,
        recovery_code: str | None = None,
        request_id: str | None = None,
    ) -> str:
        """The RFC 8176 method proven (``otp`` or ``mfa``), or `Unauthenticated`.

        `QuotaExceeded` (audited, before the code is looked at) once the
        account made too many wrong attempts in the window.
        """
        if (totp is None) == (recovery_code is None):
            raise ValidationFailed("give exactly one of totp or recovery_code")
        now = self._clock()
        with self._uow() as uow:
            try:
                self._failures.check(uow, principal.id, now)
            except QuotaExceeded as refused:
                _audit(uow, principal, "mfa.verify", Outcome.DENIED, request_id, refused.detail)
                uow.commit()
                raise
            credential = uow.mfa.totp_for_update(principal.id)
            if credential is None or not credential.active:
                raise Unauthenticated(_WRONG_CODE)
            if recovery_code is not None:
                method = self._spend_recovery_code(uow, credential, recovery_code)
            else:
                method = self._check_totp(uow, credential, totp or "")
            if method is None:
                self._failures.record_failure(uow, principal.id, now)
            outcome = Outcome.SUCCESS if method else Outcome.DENIED
            _audit(uow, principal, "mfa.verify", outcome, request_id, method or "wrong code")
            uow.commit()
        if method is None:
            raise Unauthenticated(_WRONG_CODE)
        return method

    def step_up(
        self,
        actor: Actor,
        *,
        totp: str | None = None,
        recovery_code: str | None = None,
    ) -> TokenPair:
        """A fresh session whose ``auth_time`` is now and whose ``amr`` adds the factor."""
        with self._uow() as uow:
            principal = uow.principals.get(actor.tenant_id, actor.principal_id)
        method = self.verify_second_factor(
            principal, totp=totp, recovery_code=recovery_code, request_id=actor.request_id
        )
        return self._sessions.start(
            principal, amr=_with(actor.amr, method), acr=MFA_ACR, request_id=actor.request_id
        )

    def _check_totp(self, uow: UnitOfWork, credential: TotpCredential, code: str) -> str | None:
        if credential.failures >= MAX_FAILURES:
            return None  # locked: only a recovery code unlocks
        step = self._match(uow, credential, code)
        if step is None:
            uow.mfa.put_totp(replace(credential, failures=credential.failures + 1))
            return None
        uow.mfa.put_totp(replace(credential, last_counter=step, failures=0))
        return "otp"

    def _spend_recovery_code(
        self, uow: UnitOfWork, credential: TotpCredential, code: str
    ) -> str | None:
        digest = mfa_codes.recovery_code_digest(code)
        if not uow.mfa.use_recovery_code(credential.principal_id, digest, self._now()):
            uow.mfa.put_totp(replace(credential, failures=credential.failures + 1))
            return None
        uow.mfa.put_totp(replace(credential, failures=0))
        return "mfa"

    def _match(self, uow: UnitOfWork, credential: TotpCredential, code: str) -> int | None:
        sealed = SealedArtifact(
            credential.kek_version,
            credential.wrapped_key,
            credential.nonce,
            credential.ciphertext,
            kek_ring=credential.kek_ring,
        )
        secret = open_secret(self._keys, uow, credential.tenant_id, credential.principal_id, sealed)
        return mfa_codes.matching_step(secret, code, self._clock(), credential.last_counter)

    def _new_recovery_codes(self, uow: UnitOfWork, principal_id: str, now: datetime) -> list[str]:
        codes = mfa_codes.new_recovery_codes()
        digests = [mfa_codes.recovery_code_digest(code) for code in codes]
        uow.mfa.replace_recovery_codes(principal_id, digests, now)
        return codes

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)


def _credential(principal: Principal, sealed: SealedArtifact, now: datetime) -> TotpCredential:
    return TotpCredential(
        principal_id=principal.id,
        tenant_id=principal.tenant_id,
        kek_version=sealed.kek_version,
        wrapped_key=sealed.wrapped_key,
        nonce=sealed.nonce,
        ciphertext=sealed.ciphertext,
        kek_ring=sealed.kek_ring,
        last_counter=-1,
        failures=0,
        created_at=now,
        confirmed_at=None,
    )


def _with(amr: Sequence[str], method: str) -> tuple[str, ...]:
    """*amr* (default ``pwd``) plus *method*, without duplicates, order kept."""
    return tuple(dict.fromkeys([*(amr or ("pwd",)), method]))


def _audit(
    uow: UnitOfWork,
    principal: Principal,
    action: str,
    outcome: Outcome,
    request_id: str | None,
    detail: str | None = None,
    *,
    actor: Actor | None = None,
) -> None:
    """Record a change to *principal*'s factors (by *actor*, or during its log-in when None)."""
    facts = actor_facts(actor)
    record(
        uow,
        AuditEvent(
            action,
            outcome,
            principal.tenant_id,
            principal.id,
            principal.id,
            request_id,
            detail,
            actor_kind=principal.kind.value,
            auth_method=facts.auth_method,
            source_ip=facts.source_ip,
        ),
    )
