"""RFC 9457 problem details: the only way an error leaves the API.

Each `QplaneError` subclass maps to one status and one stable `type` URI.
A 429 whose error carries a ``retry_after_s`` extension also answers the
``Retry-After`` header (RFC 9110 section 10.2.3), so clients back off
without reading the body. Anything unexpected becomes a bare 500 with no
internal detail; the stack trace goes to the server log, never to the caller.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from qplane.domain.errors import QplaneError

PROBLEM_BASE: Final = "https://qplane.dev/problems/"
MEDIA_TYPE: Final = "application/problem+json"
_log = logging.getLogger("qplane.api")

_HTTP_SLUGS: Final = {
    400: ("bad-request", "Bad request"),
    401: ("unauthenticated", "Authentication required"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    413: ("payload-too-large", "Payload too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
}


def problem_response(
    status: int,
    slug: str,
    title: str,
    detail: str,
    request: Request,
    extensions: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    request_id = getattr(request.state, "request_id", None)
    if request_id:
        body["request_id"] = request_id
    for key, value in (extensions or {}).items():
        body.setdefault(key, value)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _qplane_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, QplaneError)
    return problem_response(
        exc.status,
        exc.slug,
        exc.title,
        exc.detail,
        request,
        _jsonable(exc.extensions),
        _headers(exc),
    )


def _headers(exc: QplaneError) -> dict[str, str] | None:
    if exc.status == 401:
        return {"WWW-Authenticate": 'Bearer realm="qplane"'}
    retry_after = exc.extensions.get("retry_after_s")
    if exc.status == 429 and type(retry_after) is int and retry_after > 0:
        return {"Retry-After": str(retry_after)}
    return None


def _request_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"location": ".".join(str(part) for part in err.get("loc", ())), "message": err.get("msg")}
        for err in exc.errors()
    ]
    first = errors[0] if errors else {"location": "", "message": "invalid request"}
    detail = f"{first['location']}: {first['message']}" if first["location"] else first["message"]
    return problem_response(
        422, "validation-failed", "Validation failed", str(detail), request, {"errors": errors}
    )


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    slug, title = _HTTP_SLUGS.get(exc.status_code, ("http-error", "HTTP error"))
    detail = exc.detail if isinstance(exc.detail, str) else title
    return problem_response(exc.status_code, slug, title, detail, request)


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    _log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(
        500, "internal", "Internal error", "the server could not complete the request", request
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(QplaneError, _qplane_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


def _jsonable(extensions: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in extensions.items():
        if isinstance(value, (str, int, float, bool)) or value is None:
            out[key] = value
        elif isinstance(value, (list, tuple, set, frozenset)):
            out[key] = (
                sorted(str(v) for v in value)
                if isinstance(value, (set, frozenset))
                else [v if isinstance(v, (str, int, float, bool)) else str(v) for v in value]
            )
        else:
            out[key] = str(value)
    return out
