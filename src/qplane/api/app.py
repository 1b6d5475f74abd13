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
from qplane.api import problems
from qplane.api.routes import (
    admin,
    audit,
    device,
    internal,
    jobs,
    mfa,
    oidc,
    public,
    saml,
    sessions,
    workload,
)
from qplane.bootstrap import Platform
from qplane.broker.auditing import audit as record_audit
from qplane.domain.audit import Outcome
from qplane.domain.errors import Forbidden, QplaneError, Unauthenticated

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
            response = await call_next(request)
        response.headers[_REQUEST_ID_HEADER] = request.state.request_id
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    routers = (public, admin, jobs, audit, internal, sessions, oidc, saml, mfa, device, workload)
    for module in routers:
        app.include_router(module.router)
    return app


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
        {"WWW-Authenticate": 'Bearer realm="qplane"'} if exc.status == 401 else None,
    )


def _sweep_forever(platform: Platform, stop: threading.Event) -> None:
    interval = platform.settings.sweep_interval_s
    while not stop.wait(interval):
        try:
            platform.sweeper.sweep()
        except Exception:  # keep sweeping; the next round retries
            _log.exception("sweep failed")
