"""FastAPI dependencies: they hand out what the composition root built, nothing more."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from qplane.bootstrap import Platform
from qplane.broker.workers import WORKER_AUDIENCE
from qplane.domain import tenant_scope
from qplane.domain.errors import Unauthenticated
from qplane.domain.workers import WorkerRecord
from qplane.identity.dpop import DPoPContext, InvalidDPoP
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


def _authorization(request: Request) -> tuple[str, str]:
    """(scheme, token) of the Authorization header: ``Bearer`` or ``DPoP`` (RFC 9449)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() not in ("bearer", "dpop") or not token.strip():
        raise Unauthenticated("a bearer token is required")
    return scheme, token.strip()


def request_url(request: Request, qp: Platform) -> str:
    """The URL the client addressed (public URL when configured), as DPoP ``htu`` names it."""
    base = qp.settings.public_url or str(request.base_url)
    return base.rstrip("/") + request.url.path


def _dpop_header(request: Request) -> str | None:
    proofs = request.headers.getlist("dpop")
    if len(proofs) > 1:
        raise InvalidDPoP("more than one DPoP header")
    return proofs[0] if proofs else None


def current_actor(request: Request, _: Credentials, qp: PlatformDep) -> Actor:
    """The authenticated tenant principal or operator behind this request.

    This is the one auth path: DPoP-bound tokens are checked here too (scheme
    ``DPoP``, a proof for this method and URL, by the token's key).
    """
    scheme, token = _authorization(request)
    context = DPoPContext(scheme, _dpop_header(request), request.method, request_url(request, qp))
    actor = qp.authenticator.actor_for(
        token,
        request_id=request.state.request_id,
        source_ip=request.client.host if request.client else None,
        dpop=context,
    )
    request.state.actor = actor
    if actor.tenant_id is not None and not actor.is_operator:
        # From here on the database itself keeps this request inside its tenant.
        tenant_scope.bind(actor.tenant_id)
    return actor


def current_worker(credentials: Credentials, qp: PlatformDep) -> WorkerRecord:
    """The worker behind an internal-API request (internal audience only)."""
    claims = qp.verifier.verify(_token(credentials), audience=WORKER_AUDIENCE)
    return qp.workers.resolve(claims)


def dpop_key(request: Request, qp: PlatformDep) -> str | None:
    """The ``jkt`` to bind a token being issued to, from a valid DPoP header; None without one.

    For issuing endpoints (login, refresh, token exchange): a present but
    invalid proof is refused, never ignored.
    """
    proof = _dpop_header(request)
    if proof is None:
        return None
    return qp.authenticator.dpop.verify(proof, request.method, request_url(request, qp))


ActorDep = Annotated[Actor, Depends(current_actor)]
DPoPKeyDep = Annotated[str | None, Depends(dpop_key)]
WorkerDep = Annotated[WorkerRecord, Depends(current_worker)]
