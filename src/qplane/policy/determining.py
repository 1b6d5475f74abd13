"""The policies that allowed what a caller is doing now, for the audit entry of the change.

`Authorizer` decides before a service acts; the service then records its
change (``job.submitted``) in a separate call. So that entry can name the
policies that allowed it without every service threading the `Decision`
through, the authorizer remembers its last allowing decision here, per
context, and `qplane.broker.auditing.audit` reads it back.

A remembered decision applies only to the very caller it was made for: the
same `Actor` object (one per request, so never another request's), or the
same worker id. A refusal forgets it, so a change recorded after a refusal
never borrows an earlier permit.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from qplane.policy.actor import Actor
from qplane.policy.decision import Decision


@dataclass(frozen=True, slots=True)
class _Allowed:
    caller: Actor | str
    policy_ids: tuple[str, ...]


_last: ContextVar[_Allowed | None] = ContextVar("qplane_last_allowing_decision", default=None)


def remember(caller: Actor | str, decision: Decision) -> None:
    """Note *decision* for *caller* (an allow is kept, a refusal forgets the last one)."""
    _last.set(_Allowed(caller, decision.policy_ids) if decision.allowed else None)


def allowing_policies(caller: Actor | str | None) -> tuple[str, ...]:
    """The policies of the last decision that allowed *caller* in this context, or ()."""
    last = _last.get()
    if last is None or caller is None:
        return ()
    if isinstance(caller, Actor):
        same = last.caller is caller
    else:
        same = isinstance(last.caller, str) and last.caller == caller
    return last.policy_ids if same else ()
