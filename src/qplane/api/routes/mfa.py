"""MFA enrolment (TOTP, recovery codes), the second login step, and step-up.

* ``GET /v1/me/mfa`` — whether TOTP is on, recovery codes left.
* ``POST /v1/me/mfa/totp`` — start enrolment: the secret and otpauth URI, once.
* ``POST /v1/me/mfa/totp/confirm`` — activate with a code: recovery codes
  (once) and a session stepped up by that code.
* ``POST /v1/me/mfa/recovery-codes`` — replace them (needs recent MFA).
* ``POST /v1/auth/mfa`` — finish a password login with the ``mfa_token``
  from the ``mfa-required`` problem plus a TOTP or recovery code.
* ``POST /v1/auth/step-up`` — a fresh MFA session for the current caller
  (answer to an RFC 9470 ``insufficient_user_authentication`` challenge).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, Field

from qplane.api.deps import ActorDep, DPoPKeyDep, PlatformDep
from qplane.api.routes.sessions import token_body
from qplane.api.schemas import Strict

router = APIRouter()


class TotpEnrolmentOut(BaseModel):
    secret: str
    otpauth_uri: str


class CodeIn(Strict):
    code: str = Field(min_length=6, max_length=16)


class SecondFactorIn(Strict):
    totp: str | None = Field(default=None, max_length=16)
    recovery_code: str | None = Field(default=None, max_length=32)


class MfaLoginIn(SecondFactorIn):
    mfa_token: str = Field(max_length=4096)


@router.get("/v1/me/mfa", tags=["mfa"])
def mfa_status(actor: ActorDep, qp: PlatformDep) -> dict[str, object]:
    return qp.mfa.status(actor)


@router.post("/v1/me/mfa/totp", status_code=status.HTTP_201_CREATED, tags=["mfa"])
def enrol_totp(actor: ActorDep, qp: PlatformDep) -> TotpEnrolmentOut:
    """Start TOTP enrolment. The secret is shown in this answer only."""
    enrolment = qp.mfa.enrol_totp(actor)
    return TotpEnrolmentOut(secret=enrolment.secret, otpauth_uri=enrolment.otpauth_uri)


@router.post("/v1/me/mfa/totp/confirm", tags=["mfa"])
def confirm_totp(body: CodeIn, actor: ActorDep, qp: PlatformDep) -> dict[str, Any]:
    """Activate TOTP; returns the recovery codes (once) and a stepped-up session."""
    activation = qp.mfa.confirm_totp(actor, body.code)
    return {"recovery_codes": activation.recovery_codes, **token_body(activation.tokens)}


@router.post("/v1/me/mfa/recovery-codes", tags=["mfa"])
def renew_recovery_codes(actor: ActorDep, qp: PlatformDep) -> dict[str, list[str]]:
    return {"recovery_codes": qp.mfa.new_recovery_codes(actor)}


@router.post("/v1/auth/mfa", tags=["auth"])
def complete_login(
    body: MfaLoginIn, request: Request, qp: PlatformDep, jkt: DPoPKeyDep
) -> dict[str, Any]:
    """Second login step: the ``mfa_token`` and one second factor in, the session out."""
    pair = qp.mfa_login.complete(
        body.mfa_token,
        totp=body.totp,
        recovery_code=body.recovery_code,
        request_id=request.state.request_id,
        dpop_jkt=jkt,
    )
    return token_body(pair)


@router.post("/v1/auth/step-up", tags=["auth"])
def step_up(body: SecondFactorIn, actor: ActorDep, qp: PlatformDep) -> dict[str, Any]:
    """Re-authenticate with a second factor now: a session that satisfies step-up."""
    return token_body(qp.mfa.step_up(actor, totp=body.totp, recovery_code=body.recovery_code))
