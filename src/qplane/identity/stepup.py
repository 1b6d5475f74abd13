"""Step-up authentication (RFC 9470): privileged actions need a recent MFA.

`require_recent_mfa` is the one check. It passes only when the caller's
token says a second factor was used (an ``amr`` of `MFA_METHODS`, or an
``acr`` of `MFA_ACRS`, whichever IdP or local login produced it) *and* that
authentication (``auth_time``, which a refresh never moves forward) lies
within the allowed age. Otherwise it raises `StepUpRequired`, which the API
answers with 401 and the RFC 9470 challenge::

    WWW-Authenticate: Bearer error="insufficient_user_authentication",
        error_description="...", acr_values="urn:qplane:acr:mfa", max_age=900

The allowed age is ``QPLANE_STEP_UP_MAX_AGE_S``; the Authenticator puts it
on every `Actor` it builds, so the decision point (`policy.authorizer`) reads
it from the actor and no module keeps it as global state.

Security properties: fail closed (no ``auth_time``, no MFA method, a
future ``auth_time`` or a non-operator/non-user principal without them
all refuse); the window cannot be widened by a token refresh.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

from qplane.domain.errors import Unauthenticated
from qplane.policy.actor import Actor

#: The acr qplane puts in tokens after a local password + second factor login.
MFA_ACR: Final = "urn:qplane:acr:mfa"
#: RFC 8176 methods that prove a second factor (``mfa`` itself, one-time codes, keys).
MFA_METHODS: Final = frozenset({"mfa", "otp", "hwk", "swk"})
#: acr values from identity providers that mean multi-factor.
MFA_ACRS: Final = frozenset(
    {
        MFA_ACR,
        "http://schemas.openid.net/pape/policies/2007/06/multi-factor",
        "urn:oasis:names:tc:SAML:2.0:ac:classes:MultiFactor",
        "phr",
        "phrh",
    }
)
DEFAULT_MAX_AGE_S: Final = 900
_CHALLENGE_ERROR: Final = "insufficient_user_authentication"


class StepUpRequired(Unauthenticated):
    """The caller is authenticated, but not recently enough with a second factor."""

    slug = "insufficient-user-authentication"
    title = "Step-up authentication required"

    def __init__(self, detail: str, *, max_age_s: int, acr_values: str = MFA_ACR) -> None:
        super().__init__(detail, acr_values=acr_values, max_age=max_age_s)
        self.max_age_s = max_age_s
        self.acr_values = acr_values

    @property
    def www_authenticate(self) -> str:
        """The RFC 9470 ``WWW-Authenticate`` value for this refusal."""
        description = self.detail.replace("\\", "").replace('"', "'")
        return (
            f'Bearer error="{_CHALLENGE_ERROR}", error_description="{description}", '
            f'acr_values="{self.acr_values}", max_age={self.max_age_s}'
        )


def _checked(max_age_s: int) -> int:
    if max_age_s <= 0:
        raise ValueError("the step-up max age must be positive")
    return int(max_age_s)


def has_mfa(amr: tuple[str, ...] | list[str], acr: str | None) -> bool:
    """Whether an authentication with these amr/acr used a second factor."""
    return bool(MFA_METHODS.intersection(amr)) or (acr is not None and acr in MFA_ACRS)


def require_recent_mfa(
    actor: Actor,
    max_age_s: int | None = None,
    *,
    clock: Callable[[], float] = time.time,
) -> None:
    """Return if *actor* authenticated with MFA within *max_age_s*; raise `StepUpRequired`.

    *max_age_s* defaults to the window the Authenticator put on the actor
    (``QPLANE_STEP_UP_MAX_AGE_S``).
    """
    limit = actor.step_up_max_age_s if max_age_s is None else _checked(max_age_s)
    if not has_mfa(actor.amr, actor.acr):
        raise StepUpRequired(
            "this action needs multi-factor authentication; log in again with a second factor",
            max_age_s=limit,
        )
    now = int(clock())
    auth_time = actor.auth_time
    if auth_time is None or auth_time > now + 30 or now - auth_time > limit:
        raise StepUpRequired(
            f"this action needs a multi-factor authentication within the last {limit} seconds",
            max_age_s=limit,
        )
