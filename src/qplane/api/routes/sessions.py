"""Refresh tokens (the OAuth token endpoint), revocation and (legacy, off by default) API keys.

``POST /v1/auth/token`` is form-encoded per RFC 6749 and dispatches on
``grant_type``. This module handles ``refresh_token``; other grants (device
code, token exchange) plug in with `register_grant` from their own route
modules, so one endpoint serves every grant without this module knowing them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, Field

from qplane.api.deps import ActorDep, PlatformDep, dpop_key
from qplane.api.schemas import Strict
from qplane.bootstrap import Platform
from qplane.domain.errors import ValidationFailed
from qplane.domain.sessions import ApiKey
from qplane.identity.revocation import Revocation
from qplane.identity.sessions import TokenPair

router = APIRouter()

#: A grant handler: the request, the platform and the form fields in; the JSON body out.
GrantHandler = Callable[[Request, Platform, dict[str, str]], dict[str, Any]]
_GRANTS: dict[str, GrantHandler] = {}
_MAX_FIELD = 4096


def register_grant(grant_type: str, handler: GrantHandler) -> None:
    """Serve *grant_type* at the token endpoint (once per grant type)."""
    if grant_type in _GRANTS and _GRANTS[grant_type] is not handler:
        raise ValueError(f"grant type {grant_type!r} is already served")
    _GRANTS[grant_type] = handler


def token_body(pair: TokenPair) -> dict[str, Any]:
    """The RFC 6749 section 5.1 response for *pair* (no refresh_token member when none)."""
    body: dict[str, Any] = {
        "access_token": pair.access_token,
        "token_type": pair.token_type,
        "expires_in": pair.expires_in,
    }
    if pair.refresh_token is not None:
        body["refresh_token"] = pair.refresh_token
    return body


def _refresh_grant(request: Request, qp: Platform, form: dict[str, str]) -> dict[str, Any]:
    refresh_token = form.get("refresh_token", "")
    if not refresh_token:
        raise ValidationFailed("refresh_token is required", field="refresh_token")
    # A DPoP-bound session refreshes only with a proof by the same key (RFC 9449 §5).
    pair = qp.sessions.refresh(
        refresh_token, dpop_jkt=dpop_key(request, qp), request_id=request.state.request_id
    )
    return token_body(pair)


register_grant("refresh_token", _refresh_grant)


@router.post("/v1/auth/token", tags=["auth"])
async def token(request: Request, qp: PlatformDep) -> dict[str, Any]:
    """The OAuth 2.0 token endpoint (form-encoded); refresh tokens rotate on every use."""
    form = await _form(request)
    handler = _GRANTS.get(form.get("grant_type", ""))
    if handler is None:
        raise ValidationFailed("unsupported grant_type", field="grant_type")
    return handler(request, qp, form)


async def _form(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise ValidationFailed("the token endpoint takes application/x-www-form-urlencoded")
    form = await request.form()
    fields: dict[str, str] = {}
    for name, value in form.multi_items():
        if not isinstance(value, str) or len(value) > _MAX_FIELD or name in fields:
            raise ValidationFailed(f"form field {name[:40]!r} is invalid", field=name[:40])
        fields[name] = value
    return fields


# --- revocation -----------------------------------------------------------------


class RevocationRequest(Strict):
    """``self`` logs the caller out (its current token, and the session of *refresh_token*)."""

    scope: Literal["principal", "tenant", "token", "worker", "self"]
    id: str | None = Field(default=None, max_length=64)
    refresh_token: str | None = Field(default=None, max_length=_MAX_FIELD)


class RevocationOut(BaseModel):
    scope: str
    id: str
    not_before: int | None
    refresh_tokens_revoked: int

    @classmethod
    def of(cls, done: Revocation) -> RevocationOut:
        return cls(
            scope=done.scope.value,
            id=done.subject_id,
            not_before=done.not_before,
            refresh_tokens_revoked=done.refresh_tokens_revoked,
        )


@router.post("/v1/revocations", tags=["auth"])
def revoke(body: RevocationRequest, actor: ActorDep, qp: PlatformDep) -> RevocationOut:
    """Revoke tokens; they fail on the next request. Every revocation is audited."""
    if body.scope == "self":
        return RevocationOut.of(qp.revocations.logout(actor, body.refresh_token))
    if not body.id:
        raise ValidationFailed("id is required for this scope", field="id")
    if body.scope == "principal":
        done = qp.revocations.revoke_principal(actor, body.id)
    elif body.scope == "tenant":
        done = qp.revocations.revoke_tenant(actor, body.id)
    elif body.scope == "worker":
        done = qp.revocations.revoke_worker(actor, body.id)
    else:
        done = qp.revocations.revoke_token(actor, body.id)
    return RevocationOut.of(done)


# --- legacy API keys --------------------------------------------------------------


class ApiKeyCreate(Strict):
    project_id: str = Field(max_length=40)
    name: str = Field(max_length=63)
    roles: list[Literal["member", "viewer"]] = Field(default=["member"], min_length=1)
    ttl_days: int = 30


class ApiKeyOut(BaseModel):
    id: str
    project_id: str
    name: str
    roles: list[str]
    created_by: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyOut:
        return cls(
            id=key.id,
            project_id=key.project_id,
            name=key.name,
            roles=sorted(key.roles),
            created_by=key.created_by,
            created_at=key.created_at,
            expires_at=key.expires_at,
            revoked_at=key.revoked_at,
            last_used_at=key.last_used_at,
        )


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The secret; shown this once and never again")


@router.post("/v1/api-keys", status_code=status.HTTP_201_CREATED, tags=["api-keys"])
def create_api_key(body: ApiKeyCreate, actor: ActorDep, qp: PlatformDep) -> ApiKeyCreated:
    """Create a legacy API key (tenant admins, only if the operator enabled them)."""
    key, secret = qp.api_keys.create(actor, body.project_id, body.name, body.roles, body.ttl_days)
    return ApiKeyCreated(**ApiKeyOut.of(key).model_dump(), key=secret)


@router.get("/v1/api-keys", tags=["api-keys"])
def list_api_keys(actor: ActorDep, qp: PlatformDep) -> list[ApiKeyOut]:
    return [ApiKeyOut.of(key) for key in qp.api_keys.list_keys(actor)]


@router.delete("/v1/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["api-keys"])
def revoke_api_key(key_id: str, actor: ActorDep, qp: PlatformDep) -> Response:
    qp.api_keys.revoke(actor, key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
