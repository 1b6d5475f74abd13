"""Short-lived browser sessions behind the device verification page (RFC 8628 §3.3).

A person approving a device login in a browser gets a session of this
kind: it names the user code, carries the CSRF token the next form must
present and, once they signed in (password, SSO), how they did.

Security properties:

* The session cookie's value and every CSRF token are 256 random bits,
  stored only as digests (`browser_binding.secret_digest`).
* A form is accepted only with the session's *current* CSRF token, read
  under a row lock; each accepted token is replaced at once, so a token
  works once. The approval (or denial) deletes the whole session in the
  same locked step: a replayed decision finds nothing.
* A session lives at most ``ttl_s`` (the device code's lifetime) and is
  refused after that whatever its cookie says.
* A session never holds a token. The approval acts for an `Actor` rebuilt
  from the principal's *current* record: a principal disabled, deleted or
  revoked (a watermark after the sign-in) since signing in cannot approve.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

from qplane.domain.browser import BrowserSession, BrowserSignIn
from qplane.domain.errors import Forbidden, NotFound, Unauthenticated
from qplane.domain.ports import UnitOfWork, UnitOfWorkFactory
from qplane.domain.tenancy import PrincipalKind
from qplane.identity.browser_binding import new_secret, secret_digest, secret_matches
from qplane.identity.device import USER_CODE_LENGTH, normalise_user_code
from qplane.policy.actor import Actor

_NO_SESSION: Final = (
    "device sign-in session missing or expired: open the link your terminal shows again"
)
_BAD_FORM: Final = "form token missing or wrong: reload the page and try again"
_MAX_USER_CODE: Final = 2 * USER_CODE_LENGTH


class NotSignedIn(Unauthenticated):
    """The session is valid but nobody has signed in to it yet."""


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A signed-in session as its forms see it: the user code and who approves it."""

    user_code: str
    actor: Actor
    email: str


@dataclass(frozen=True, slots=True)
class OpenedSession:
    """A new session: the cookie value and first CSRF token (shown once), its key and code."""

    secret: str = field(repr=False)
    csrf: str = field(repr=False)
    id_hash: str
    user_code: str


class BrowserSessions:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        *,
        ttl_s: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._uow = uow_factory
        self.ttl_s = ttl_s
        self._clock = clock

    def open(self, user_code: str) -> OpenedSession:
        """A fresh session for *user_code* (normalised; checked only after sign-in)."""
        secret, csrf, now = new_secret(), new_secret(), self._now()
        session = BrowserSession(
            id_hash=secret_digest(secret),
            csrf_hash=secret_digest(csrf),
            user_code=normalise_user_code(user_code)[:_MAX_USER_CODE],
            created_at=now,
            expires_at=now + timedelta(seconds=self.ttl_s),
        )
        with self._uow() as uow:
            uow.browser_sessions.purge_expired(now)
            uow.browser_sessions.add(session)
            uow.commit()
        return OpenedSession(secret, csrf, session.id_hash, session.user_code)

    def rotate_csrf(self, secret: str | None, csrf: str | None) -> tuple[BrowserSession, str]:
        """Accept a form: its CSRF token must be the session's current one, which is replaced.

        Raises `Unauthenticated` without a live session, `Forbidden` for a
        missing or wrong token. Returns the session and the next token.
        """
        with self._uow() as uow:
            session = self._locked(uow, secret)
            if not secret_matches(csrf, session.csrf_hash):
                raise Forbidden(_BAD_FORM)
            following = self._replace_csrf(uow, session)
            uow.commit()
        return session, following

    def record_sign_in(
        self,
        id_hash: str,
        principal_id: str,
        tenant_id: str | None,
        *,
        amr: tuple[str, ...],
        acr: str,
        auth_time: int | None,
        user_code: str | None = None,
    ) -> None:
        """Remember who signed in to session *id_hash*; `Unauthenticated` when it is gone.

        *user_code*, when given, replaces the session's (the sign-in form carries one).
        """
        now = self._now()
        sign_in = BrowserSignIn(principal_id, tenant_id, amr, acr, auth_time, now)
        with self._uow() as uow:
            session = uow.browser_sessions.for_update(id_hash, now)
            if session is None:
                raise Unauthenticated(_NO_SESSION)
            code = session.user_code if user_code is None else normalise_user_code(user_code)
            uow.browser_sessions.sign_in(id_hash, code[:_MAX_USER_CODE], sign_in)
            uow.commit()

    def confirmation(
        self, secret: str | None, request_id: str | None, source_ip: str | None
    ) -> tuple[SignedIn, str]:
        """The signed-in session and a new CSRF token for its decision form.

        Raises `NotSignedIn` when nobody signed in yet.
        """
        with self._uow() as uow:
            session = self._locked(uow, secret)
            signed = self._signed_in(uow, session, request_id, source_ip)
            csrf = self._replace_csrf(uow, session)
            uow.commit()
        return signed, csrf

    def take(
        self, secret: str | None, csrf: str | None, request_id: str | None, source_ip: str | None
    ) -> SignedIn:
        """Use the session for its one decision: checked like a form, then deleted."""
        with self._uow() as uow:
            session = self._locked(uow, secret)
            if not secret_matches(csrf, session.csrf_hash):
                raise Forbidden(_BAD_FORM)
            signed = self._signed_in(uow, session, request_id, source_ip)
            if not uow.browser_sessions.delete(session.id_hash):
                raise Unauthenticated(_NO_SESSION)
            uow.commit()
        return signed

    def _locked(self, uow: UnitOfWork, secret: str | None) -> BrowserSession:
        if not secret or len(secret) > 128:
            raise Unauthenticated(_NO_SESSION)
        session = uow.browser_sessions.for_update(secret_digest(secret), self._now())
        if session is None:
            raise Unauthenticated(_NO_SESSION)
        return session

    def _replace_csrf(self, uow: UnitOfWork, session: BrowserSession) -> str:
        following = new_secret()
        uow.browser_sessions.set_csrf(session.id_hash, secret_digest(following))
        return following

    def _signed_in(
        self,
        uow: UnitOfWork,
        session: BrowserSession,
        request_id: str | None,
        source_ip: str | None,
    ) -> SignedIn:
        signed = session.sign_in
        if signed is None:
            raise NotSignedIn("sign in first")
        try:
            principal = uow.principals.get(signed.tenant_id, signed.principal_id)
        except NotFound:
            raise Unauthenticated("the account that signed in no longer exists") from None
        if principal.disabled:
            raise Unauthenticated("principal is disabled")
        watermark = uow.revocations.not_before(principal.tenant_id, principal.id)
        if watermark is not None and int(signed.signed_in_at.timestamp()) < watermark:
            raise Unauthenticated("this sign-in was revoked; sign in again")
        actor = Actor(
            principal_id=principal.id,
            kind=PrincipalKind(principal.kind),
            tenant_id=principal.tenant_id,
            roles=principal.roles,
            request_id=request_id,
            source_ip=source_ip,
            amr=signed.amr,
            acr=signed.acr,
            auth_time=signed.auth_time,
        )
        return SignedIn(session.user_code, actor, principal.email)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)
