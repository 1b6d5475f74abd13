"""One line on stderr and a non-zero exit for every expected failure; never a traceback."""

from __future__ import annotations

import functools
import ssl
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import httpx
import typer

from qplane.domain.errors import QplaneError
from qplane.sdk.errors import QplaneAPIError

P = ParamSpec("P")
R = TypeVar("R")


def printable(text: str) -> str:
    """One line with control characters escaped: server text never drives the terminal."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(f"error: {printable(message)}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def one_line_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn API problems, domain errors and connection failures into one readable line."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except QplaneAPIError as exc:
            extra = exc.problem.get("job_id")
            suffix = f" (job {extra} recorded as rejected)" if extra else ""
            raise fail(f"{exc.title}: {exc.detail}{suffix}", 2) from None
        except QplaneError as exc:
            raise fail(exc.detail, 2) from None
        except httpx.HTTPError as exc:
            untrusted = _certificate_problem(exc)
            if untrusted is not None:
                raise fail(
                    f"the control plane's TLS certificate is not trusted ({untrusted}): "
                    "pass --ca-file with its CA certificate (or set QPLANE_CA_FILE)",
                    3,
                ) from None
            raise fail(f"cannot reach the control plane ({type(exc).__name__})", 3) from None
        except (OSError, ValueError) as exc:
            raise fail(str(exc), 1) from None

    return wrapper


def _certificate_problem(exc: BaseException) -> str | None:
    """Why the server's certificate failed verification, if that is what *exc* comes from."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return str(seen.verify_message or "verification failed")
        seen = seen.__cause__ or seen.__context__
    return None
