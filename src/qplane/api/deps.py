"""FastAPI dependencies: they hand out what the composition root built, nothing more."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from qplane.bootstrap import Platform
from qplane.broker.workers import WORKER_AUDIENCE
from qplane.domain.errors import Unauthenticated
from qplane.domain.workers import WorkerRecord
from qplane.policy.actor import Actor

_bearer = HTTPBearer(auto_error=False, description="A qplane access token")


def platform(request: Request) -> Platform:
    built: Platform = request.app.state.platform
    return built


PlatformDep = Annotated[Platform, Depends(platform)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("a bearer token is required")
    return credentials.credentials


def current_actor(request: Request, credentials: Credentials, qp: PlatformDep) -> Actor:
    """The authenticated tenant principal or operator behind this request."""
    actor = qp.authenticator.actor_for(
        _token(credentials),
        request_id=request.state.request_id,
        source_ip=request.client.host if request.client else None,
    )
    request.state.actor = actor
    return actor


def current_worker(credentials: Credentials, qp: PlatformDep) -> WorkerRecord:
    """The worker behind an internal-API request (internal audience only)."""
    claims = qp.verifier.verify(_token(credentials), audience=WORKER_AUDIENCE)
    return qp.workers.resolve(claims)


ActorDep = Annotated[Actor, Depends(current_actor)]
WorkerDep = Annotated[WorkerRecord, Depends(current_worker)]
