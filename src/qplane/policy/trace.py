"""Which decisions a request made: the evidence that a route asked the decision point.

The API opens a trace per request; `Authorizer.decide` notes every action it
decides. A protected route that answers successfully with an empty trace
forgot to authorise, and the API refuses to send its answer (fail closed).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_decided: ContextVar[list[str] | None] = ContextVar("qplane_decisions", default=None)


@contextmanager
def tracing() -> Iterator[list[str]]:
    """Collect the actions decided while the block runs (threads it starts included)."""
    decided: list[str] = []
    token = _decided.set(decided)
    try:
        yield decided
    finally:
        _decided.reset(token)


def note(action: str) -> None:
    """Record that *action* was decided in the current trace, if one is open."""
    decided = _decided.get()
    if decided is not None:
        decided.append(action)
