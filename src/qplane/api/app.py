"""The FastAPI application: routers, problem+json errors, request ids, denial auditing."""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Final

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from qplane import __version__
from qplane.api import problems, route_access
from qplane.api.routes import (
    admin,
    audit,
    audit_export,
    device,
    device_browser,
    explain,
    internal,
    jobs,
    keys,
    mfa,
    oidc,
    platform_audit,
    policies,
    public,
    saml,
    scheduling,
    sessions,
    workload,
)
from qplane.bootstrap import Platform
from qplane.broker.auditing import audit as record_audit
from qplane.domain import tenant_scope
from qplane.domain.audit import Outcome
from qplane.domain.errors import Forbidden, IntegrityError, QplaneError, Unauthenticated
from qplane.domain.keys import PLATFORM
from qplane.identity.device import OAuthError
from qplane.identity.mfa_login import MfaRequired
from qplane.identity.stepup import StepUpRequired
from qplane.policy.trace import tracing

_log = logging.getLogger("qplane.api")
_REQUEST_ID_HEADER: Final = "X-Request-ID"
_INTERNAL_BODY_LIMIT: Final = 32 * 1024 * 1024


def create_app(platform: Platform, *, run_sweeper: bool = True) -> FastAPI:
    """Build the API over an already-wired platform.

    With *run_sweeper*, a background thread re-queues jobs whose worker died
    and retires expired artifacts for as long as the app runs.
    """

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        thread = None
        if run_sweeper:
            thread = threading.Thread(
                target=_sweep_forever, args=(platform, stop), name="qplane-sweeper", daemon=True
            )
            thread.start()
        yield
        stop.set()
        if thread is not None:
            thread.join(timeout=5)

    app = FastAPI(
        title="qplane",
        version=__version__,
        description="Secure multi-tenant control plane for quantum computing as a service.",
        lifespan=lifespan,
    )
    app.state.platform = platform
    problems.install(app)
    app.add_exception_handler(Unauthenticated, _denied)
    app.add_exception_handler(Forbidden, _denied)
    app.add_exception_handler(StepUpRequired, _denied_with_extensions)
    app.add_exception_handler(MfaRequired, _mfa_required)
    app.add_exception_handler(OAuthError, _oauth_error)
    app.add_exception_handler(IntegrityError, _integrity_failure)
    body_limit = platform.settings.max_payload_bytes * 4 + 64 * 1024

    @app.middleware("http")
    async def request_context(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        supplied = request.headers.get(_REQUEST_ID_HEADER, "")
        request.state.request_id = (
            supplied
            if 8 <= len(supplied) <= 64 and supplied.isascii() and supplied.isprintable()
            else "req_" + secrets.token_hex(12)
        )
        request.state.actor = None
        limit = _INTERNAL_BODY_LIMIT if request.url.path.startswith("/internal/") else body_limit
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            response: Response = problems.problem_response(
                413,
                "payload-too-large",
                "Payload too large",
                f"request body exceeds {limit} bytes",
                request,
                {"limit": limit},
            )
        else:
            with tracing() as decided, tenant_scope.request_scope():
                response = await call_next(request)
            response = _unless_undecided(request, response, decided)
        response.headers[_REQUEST_ID_HEADER] = request.state.request_id
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    routers = (
        public,
        admin,
        jobs,
        audit,
        audit_export,
        platform_audit,
        internal,
        sessions,
        oidc,
        saml,
        mfa,
        device,
        device_browser,
        workload,
        explain,
        policies,
        keys,
        scheduling,
    )
    for module in routers:
        app.include_router(module.router)
    return app


def _unless_undecided(request: Request, response: Response, decided: list[str]) -> Response:
    """Fail closed: a protected route that answered without a policy decision is refused.

    Every route not declared public or self-service (`route_access`) must
    have asked the decision point; one that forgot cannot leak its answer.
    """
    route = getattr(request.scope.get("route"), "path", None)
    if (
        route is None
        or response.status_code >= 400
        or decided
        or not route_access.needs_decision(request.method, route)
    ):
        return response
    _log.error("route %s %s answered without an authorisation decision", request.method, route)
    return problems.problem_response(
        500,
        "internal-error",
        "Internal error",
        "the request was not authorised; it has been refused",
        request,
    )


def _denied(request: Request, exc: Exception) -> JSONResponse:
    """Every refused authentication or authorisation is audited, then answered."""
    assert isinstance(exc, QplaneError)
    actor = getattr(request.state, "actor", None)
    platform: Platform = request.app.state.platform
    try:
        with platform.database.unit_of_work() as uow:
            record_audit(
                uow,
                actor,
                f"{request.method} {request.url.path}"[:200],
                tenant_id=actor.tenant_id if actor is not None else None,
                target=None,
                outcome=Outcome.DENIED,
                detail=exc.detail,
                request_id=request.state.request_id,
            )
            uow.commit()
    except Exception:  # the refusal stands even if auditing it failed; say so loudly
        _log.exception("could not audit a denied request")
    return problems.problem_response(
        exc.status,
        exc.slug,
        exc.title,
        exc.detail,
        request,
        None,
        _challenge(exc) if exc.status == 401 else None,
    )


def _integrity_failure(request: Request, exc: Exception) -> JSONResponse:
    """Tampered or misplaced sealed data is a security event: audited, then answered 500.

    Audited here, after the request's own transaction has rolled back, so
    the evidence survives the failure it records.
    """
    assert isinstance(exc, IntegrityError)
    platform: Platform = request.app.state.platform
    if exc.sealed_for is not None:
        owner, subject, kind = exc.sealed_for
        actor = getattr(request.state, "actor", None)
        try:
            with platform.database.unit_of_work() as uow:
                record_audit(
                    uow,
                    actor,
                    "crypto.integrity_failure",
                    tenant_id=None if owner == PLATFORM else owner,
                    target=subject[:200],
                    outcome=Outcome.FAILURE,
                    detail=f"{kind}: {exc.detail}"[:500],
                    request_id=request.state.request_id,
                )
                uow.commit()
        except Exception:  # the answer stands even if auditing it failed; say so loudly
            _log.exception("could not audit an integrity failure")
    return problems.problem_response(exc.status, exc.slug, exc.title, exc.detail, request, None)


def _challenge(exc: QplaneError) -> dict[str, str]:
    """The 401 challenge: an error may name its own (DPoP's, RFC 9449 §7.1), else Bearer."""
    challenge = getattr(exc, "www_authenticate", None)
    bearer = 'Bearer realm="qplane"'
    return {"WWW-Authenticate": challenge if isinstance(challenge, str) else bearer}


def _denied_with_extensions(request: Request, exc: Exception) -> JSONResponse:
    """A refusal audited like any other whose body also says how to satisfy it.

    Step-up (RFC 9470): the challenge header plus ``acr_values``/``max_age``
    in the problem body, for clients that read only the body.
    """
    assert isinstance(exc, QplaneError)
    audited = _denied(request, exc)
    extensions = {key: value for key, value in exc.extensions.items() if key != "mfa_token"}
    return problems.problem_response(
        audited.status_code, exc.slug, exc.title, exc.detail, request, extensions, _challenge(exc)
    )


def _mfa_required(request: Request, exc: Exception) -> JSONResponse:
    """The password was right (already audited): hand out the MFA token for the second step."""
    assert isinstance(exc, MfaRequired)
    return problems.problem_response(
        401, exc.slug, exc.title, exc.detail, request, dict(exc.extensions), _challenge(exc)
    )


def _oauth_error(request: Request, exc: Exception) -> JSONResponse:
    """RFC 6749 section 5.2 errors (device grant polling): ``error`` and a description."""
    assert isinstance(exc, OAuthError)
    status = 401 if exc.error == "invalid_client" else 400
    return JSONResponse({"error": exc.error, "error_description": exc.detail}, status_code=status)


def _sweep_forever(platform: Platform, stop: threading.Event) -> None:
    interval = platform.settings.sweep_interval_s
    while not stop.wait(interval):
        try:
            platform.sweeper.sweep()
        except Exception:  # keep sweeping; the next round retries
            _log.exception("sweep failed")
