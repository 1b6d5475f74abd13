"""The OAuth 2.0 device authorization grant (RFC 8628).

* ``POST /v1/oauth/device_authorization`` (form: ``client_id``) opens a grant.
* ``POST /v1/oauth/token`` (also ``/v1/auth/token``; form: ``grant_type=
  urn:ietf:params:oauth:grant-type:device_code``, ``device_code``,
  ``client_id``) is polled by the device; errors are RFC 6749 JSON
  (``{"error": "authorization_pending"}`` …, status 400).
* ``GET /v1/oauth/device?user_code=`` shows a logged-in user what they are
  about to approve; ``POST /v1/oauth/device/approve`` and ``…/deny`` decide.
* ``GET /device`` — the human-facing verification page the CLI prints — is
  served by `qplane.api.routes.device_browser`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, Field

from qplane.api.deps import ActorDep, PlatformDep
from qplane.api.routes import sessions
from qplane.api.schemas import Strict
from qplane.bootstrap import Platform
from qplane.identity.device import GRANT_TYPE, OAuthError, format_user_code

router = APIRouter()
_MAX_FIELD = 4096


class UserCode(Strict):
    user_code: str = Field(min_length=4, max_length=16)


class DeviceGrantOut(BaseModel):
    user_code: str
    client_id: str
    expires_at: str


def _device_code_grant(request: Request, qp: Platform, form: dict[str, str]) -> dict[str, Any]:
    device_code, client_id = form.get("device_code", ""), form.get("client_id", "")
    if not device_code or not client_id:
        raise OAuthError("invalid_request", "device_code and client_id are required")
    pair = qp.device.poll(client_id, device_code, request.state.request_id)
    return sessions.token_body(pair)


sessions.register_grant(GRANT_TYPE, _device_code_grant)


@router.post("/v1/oauth/device_authorization", tags=["auth"])
async def device_authorization(request: Request, qp: PlatformDep) -> dict[str, Any]:
    """Start a device login: a device code for the client, a user code for the person."""
    form = await _form_fields(request)
    started = qp.device.start(form.get("client_id", ""))
    return {
        "device_code": started.device_code,
        "user_code": started.user_code,
        "verification_uri": started.verification_uri,
        "verification_uri_complete": started.verification_uri_complete,
        "expires_in": started.expires_in,
        "interval": started.interval,
    }


async def _form_fields(request: Request) -> dict[str, str]:
    """RFC 8628 requests are form-encoded; one value per field, bounded in size."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise OAuthError("invalid_request", "send application/x-www-form-urlencoded")
    fields: dict[str, str] = {}
    for name, value in (await request.form()).multi_items():
        if not isinstance(value, str) or len(value) > _MAX_FIELD or name in fields:
            raise OAuthError("invalid_request", "a form field is invalid or repeated")
        fields[name] = value
    return fields


@router.post("/v1/oauth/token", tags=["auth"])
async def oauth_token(request: Request, qp: PlatformDep) -> dict[str, Any]:
    """The token endpoint under its OAuth path (same grants as ``/v1/auth/token``)."""
    return await sessions.token(request, qp)


@router.get("/v1/oauth/device", tags=["auth"])
def describe(user_code: str, actor: ActorDep, qp: PlatformDep) -> DeviceGrantOut:
    grant = qp.device.describe(actor, user_code[:16])
    return DeviceGrantOut(
        user_code=format_user_code(grant.user_code),
        client_id=grant.client_id,
        expires_at=grant.expires_at.isoformat(),
    )


@router.post("/v1/oauth/device/approve", status_code=status.HTTP_204_NO_CONTENT, tags=["auth"])
def approve(body: UserCode, actor: ActorDep, qp: PlatformDep) -> None:
    """Let the device that shows *user_code* log in as the caller."""
    qp.device.decide(actor, body.user_code, approve=True)


@router.post("/v1/oauth/device/deny", status_code=status.HTTP_204_NO_CONTENT, tags=["auth"])
def deny(body: UserCode, actor: ActorDep, qp: PlatformDep) -> None:
    qp.device.decide(actor, body.user_code, approve=False)
