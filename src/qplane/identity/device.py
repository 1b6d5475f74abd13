"""The OAuth 2.0 Device Authorization Grant (RFC 8628) for the qplane CLI.

A device without a browser asks for a *device code* and a short *user
code*; the user, logged in anywhere else (password, MFA or SSO), approves
or denies that user code for their own account; the device polls the token
endpoint and, once approved, receives a session exactly once.

Security properties:

* The device code (256 bits) is stored only as its SHA-256 digest.
* User codes are 8 letters of RFC 8628's 20-consonant alphabet (no
  vowels, no look-alikes; ~34 bits), live `expires_in` seconds, and each
  approver may make at most `MAX_WRONG_USER_CODES` wrong guesses per
  `GUESS_WINDOW_S` (then `QuotaExceeded`), so guessing someone's pending
  code is impractical.
* Polling faster than the interval answers ``slow_down`` and adds 5 s to
  the interval (§3.5); an expired grant answers ``expired_token``.
* Redemption flips the row from approved to redeemed under a row lock
  before any token is minted: a second poll gets ``invalid_grant``.
* The session carries the approver's ``amr``, ``acr`` and ``auth_time``:
  approving from an MFA session yields an MFA session, but never a fresher
  one (the step-up window still runs from the approver's authentication).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Final

from qplane.broker.auditing import audit
from qplane.domain.errors import Conflict, Forbidden, NotFound, QplaneError
from qplane.domain.mfa import DeviceAuthorization, DeviceStatus
from qplane.domain.ports import UnitOfWork, UnitOfWorkFactory
from qplane.domain.tenancy import PrincipalKind
from qplane.identity.failure_limit import FailureLimit
from qplane.identity.sessions import SessionService, TokenPair
from qplane.policy.actor import Actor

GRANT_TYPE: Final = "urn:ietf:params:oauth:grant-type:device_code"
CLIENT_IDS: Final = frozenset({"qplane-cli"})
USER_CODE_ALPHABET: Final = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH: Final = 8
SLOW_DOWN_STEP_S: Final = 5
MAX_WRONG_USER_CODES: Final = 5
GUESS_WINDOW_S: Final = 600
_FALLBACK_ACR: Final = "urn:qplane:acr:pwd"


class OAuthError(QplaneError):
    """An RFC 6749 §5.2 / RFC 8628 §3.5 token-endpoint error (``error`` is the code)."""

    slug = "oauth-error"
    title = "OAuth error"
    status = 400

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error


@dataclass(frozen=True, slots=True)
class DeviceStart:
    """The device authorization response (RFC 8628 §3.2). ``repr`` hides the device code."""

    device_code: str = field(repr=False)
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    expires_in: int
    interval: int


class DeviceGrantService:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        sessions: SessionService,
        verification_uri: str,
        *,
        ttl_s: int = 600,
        interval_s: int = 5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._uow = uow_factory
        self._sessions = sessions
        self._uri = verification_uri
        self._ttl_s = ttl_s
        self._interval_s = interval_s
        self._clock = clock
        self._guesses = _GuessLimiter(clock)

    def start(self, client_id: str) -> DeviceStart:
        """Open a grant for *client_id* (only the qplane CLI is registered)."""
        if client_id not in CLIENT_IDS:
            raise OAuthError("invalid_client", "unknown client_id")
        device_code = secrets.token_urlsafe(32)
        now = self._now()
        for _ in range(5):  # a user-code collision is rare; draw again
            user_code = _new_user_code()
            grant = DeviceAuthorization(
                device_code_hash=device_code_digest(device_code),
                user_code=user_code,
                client_id=client_id,
                status=DeviceStatus.PENDING,
                interval_s=self._interval_s,
                created_at=now,
                expires_at=now + timedelta(seconds=self._ttl_s),
            )
            try:
                with self._uow() as uow:
                    uow.device_grants.add(grant)
                    uow.commit()
                break
            except Conflict:
                continue
        else:
            raise OAuthError("temporarily_unavailable", "could not allocate a user code")
        shown = format_user_code(user_code)
        return DeviceStart(
            device_code,
            shown,
            self._uri,
            f"{self._uri}?user_code={shown}",
            self._ttl_s,
            self._interval_s,
        )

    def describe(self, actor: Actor, user_code: str) -> DeviceAuthorization:
        """The pending grant behind *user_code*, for the approver to check (counts guesses)."""
        with self._uow() as uow:
            return self._pending(uow, actor, user_code)

    def decide(self, actor: Actor, user_code: str, *, approve: bool) -> None:
        """Approve (for *actor*'s own account) or deny the pending grant of *user_code*."""
        if actor.kind not in (PrincipalKind.USER, PrincipalKind.OPERATOR) or actor.project_id:
            raise Forbidden("only a person's session can approve a device login")
        with self._uow() as uow:
            grant = self._pending(uow, actor, user_code)
            if approve:
                decided = replace(
                    grant,
                    status=DeviceStatus.APPROVED,
                    principal_id=actor.principal_id,
                    tenant_id=actor.tenant_id,
                    amr=actor.amr or ("pwd",),
                    acr=actor.acr or _FALLBACK_ACR,
                    auth_time=actor.auth_time,
                )
            else:
                decided = replace(grant, status=DeviceStatus.DENIED)
            uow.device_grants.save(decided)
            _audit(uow, actor, "auth.device." + ("approve" if approve else "deny"))
            uow.commit()

    def poll(self, client_id: str, device_code: str, request_id: str | None = None) -> TokenPair:
        """The token request of §3.4: tokens once approved, else the §3.5 error."""
        with self._uow() as uow:
            grant = uow.device_grants.by_device_code_for_update(device_code_digest(device_code))
            if grant is None or grant.client_id != client_id:
                raise OAuthError("invalid_grant", "unknown device code")
            now = self._now()
            if now >= grant.expires_at:
                raise OAuthError("expired_token", "the device code has expired; start again")
            too_fast = grant.last_polled_at is not None and (
                now - grant.last_polled_at
            ) < timedelta(seconds=grant.interval_s)
            interval = grant.interval_s + (SLOW_DOWN_STEP_S if too_fast else 0)
            status = grant.status
            if status is DeviceStatus.APPROVED and not too_fast:
                status = DeviceStatus.REDEEMED  # spent now, before any token exists
            uow.device_grants.save(
                replace(grant, last_polled_at=now, interval_s=interval, status=status)
            )
            uow.commit()
        if too_fast:
            raise OAuthError("slow_down", f"poll at most every {interval} seconds")
        if grant.status is DeviceStatus.PENDING:
            raise OAuthError("authorization_pending", "the user has not approved yet")
        if grant.status is DeviceStatus.DENIED:
            raise OAuthError("access_denied", "the user denied the request")
        if grant.status is DeviceStatus.REDEEMED:
            raise OAuthError("invalid_grant", "the device code was already used")
        return self._redeem(grant, request_id)

    def _redeem(self, grant: DeviceAuthorization, request_id: str | None) -> TokenPair:
        with self._uow() as uow:
            try:
                principal = uow.principals.get(grant.tenant_id, grant.principal_id or "")
            except NotFound:
                raise OAuthError("invalid_grant", "the approving account is gone") from None
        return self._sessions.start(
            principal,
            amr=grant.amr or ("pwd",),
            acr=grant.acr or _FALLBACK_ACR,
            auth_time=grant.auth_time,
            client_id=grant.client_id,
            request_id=request_id,
        )

    def _pending(self, uow: UnitOfWork, actor: Actor, user_code: str) -> DeviceAuthorization:
        self._guesses.check(uow, actor.principal_id)
        grant = uow.device_grants.by_user_code_for_update(normalise_user_code(user_code))
        usable = grant is not None and grant.status is DeviceStatus.PENDING
        if grant is None or not usable or self._now() >= grant.expires_at:
            self._guesses.failed(uow, actor.principal_id)
            uow.commit()  # the wrong guess counts although nothing else changes
            raise NotFound("no pending device login has this code")
        return grant

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)


class _GuessLimiter:
    """Wrong user codes per approver in a sliding window, counted in the database.

    Every API server counts the same guesses (`FailureLimit`), so spreading
    them over servers gains nothing.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._limit = FailureLimit(
            "dg",
            MAX_WRONG_USER_CODES,
            GUESS_WINDOW_S,
            "too many wrong device codes; wait and try again",
        )

    def check(self, uow: UnitOfWork, principal_id: str) -> None:
        self._limit.check(uow, principal_id, self._clock())

    def failed(self, uow: UnitOfWork, principal_id: str) -> None:
        self._limit.record_failure(uow, principal_id, self._clock())


def device_code_digest(device_code: str) -> str:
    return hashlib.sha256(("qplane/device/v1:" + device_code).encode()).hexdigest()


def normalise_user_code(user_code: str) -> str:
    """Upper case without separators: what users type is compared as stored."""
    return "".join(ch for ch in user_code.upper() if ch.isalnum())


def format_user_code(user_code: str) -> str:
    half = USER_CODE_LENGTH // 2
    return f"{user_code[:half]}-{user_code[half:]}"


def _new_user_code() -> str:
    return "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))


def _audit(uow: UnitOfWork, actor: Actor, action: str) -> None:
    audit(uow, actor, action, tenant_id=actor.tenant_id, target=actor.principal_id)
