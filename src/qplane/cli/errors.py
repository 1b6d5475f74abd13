"""One line on stderr and a non-zero exit for every expected failure; never a traceback."""

from __future__ import annotations

import functools
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
            raise fail(f"cannot reach the control plane ({type(exc).__name__})", 3) from None
        except (OSError, ValueError) as exc:
            raise fail(str(exc), 1) from None

    return wrapper
