"""Routes that need no token: health, the token signing and attestation keys, and login."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from qplane.api.deps import DPoPKeyDep, PlatformDep
from qplane.api.schemas import LoginRequest, TokenResponse
from qplane.crypto.attestation import ALGORITHM, ATTESTATION_CONTEXT

router = APIRouter()


@router.get("/healthz", tags=["health"])
def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/readyz", tags=["health"], response_model=None)
def readyz(qp: PlatformDep) -> dict[str, str] | JSONResponse:
    """Readiness: the database answers and the schema is at the expected revision."""
    try:
        with qp.database.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        revision = qp.database.current_revision()
    except Exception:  # readiness must answer, not raise
        return JSONResponse({"status": "unavailable"}, status_code=503)
    return {"status": "ready", "schema": revision or "none"}


@router.get("/.well-known/jwks.json", tags=["auth"])
def jwks(qp: PlatformDep) -> dict[str, Any]:
    """Public keys that verify qplane's access tokens."""
    return qp.signing_keys.jwks()


class AttestationKeyOut(BaseModel):
    key_id: str
    algorithm: str
    context: str
    public_key: str


@router.get("/v1/attestation-key", tags=["jobs"])
def attestation_key(qp: PlatformDep) -> AttestationKeyOut:
    """The public key that verifies the platform's result attestations (in job archives)."""
    key = qp.attestation_key
    return AttestationKeyOut(
        key_id=key.key_id,
        algorithm=ALGORITHM,
        context=ATTESTATION_CONTEXT,
        public_key=key.public_key.to_pem(),
    )


@router.post("/v1/auth/login", tags=["auth"])
def login(body: LoginRequest, request: Request, qp: PlatformDep, jkt: DPoPKeyDep) -> TokenResponse:
    """Exchange a local account's email and password for an access and a refresh token.

    With a valid DPoP proof the tokens are bound to the proof's key (RFC 9449).
    Too many wrong passwords for the email or from the client's address answer
    429 with ``Retry-After``.
    """
    pair = qp.login.login(
        body.email,
        body.password,
        request.state.request_id,
        dpop_jkt=jkt,
        source_ip=request.client.host if request.client else None,
    )
    return TokenResponse(
        access_token=pair.access_token,
        token_type=pair.token_type,
        expires_in=pair.expires_in,
        refresh_token=pair.refresh_token,
    )
