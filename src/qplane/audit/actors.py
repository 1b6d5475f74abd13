"""Who acted, as an audit entry names them: what kind of caller, how it authenticated, from where.

One derivation for every writer of the log, so that "search by auth
method" means the same thing whichever service recorded the entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from qplane.domain import ids
from qplane.policy.actor import Actor

WORKER: Final = "worker"
#: A worker proves its key with an RFC 7523 client assertion (`qplane.identity.workload`).
WORKER_AUTH: Final = "private_key_jwt"
#: A legacy static API key (`qplane.identity.api_keys`); its actor has no token, so no amr.
API_KEY_AUTH: Final = "api_key"
#: A caller whose credential named no method (never expected: tokens require ``amr``).
UNKNOWN_AUTH: Final = "unknown"
_MAX_METHOD: Final = 64
_MAX_ADDRESS: Final = 64


@dataclass(frozen=True, slots=True)
class ActorFacts:
    """The actor columns of an audit entry."""

    actor_id: str | None = None
    actor_kind: str | None = None
    auth_method: str | None = None
    source_ip: str | None = None
    request_id: str | None = None


def actor_facts(actor: Actor | str | None) -> ActorFacts:
    """Describe *actor*: a principal, a bare id (a worker's, or a principal's at log-in), or None.

    None is the platform acting on its own (the sweeper, a sync), which has
    no kind and no authentication.
    """
    if actor is None:
        return ActorFacts()
    if isinstance(actor, str):
        if ids.is_well_formed(actor, ids.WORKER):
            return ActorFacts(actor, WORKER, WORKER_AUTH)
        return ActorFacts(actor)
    return ActorFacts(
        actor.principal_id,
        actor.kind.value,
        auth_method(actor),
        source_address(actor.source_ip),
        actor.request_id,
    )


def auth_method(actor: Actor) -> str:
    """How *actor* authenticated: ``api_key``, or its token's amr values joined by ``+``.

    ``pwd``, ``pwd+otp``, ``pwd+recovery`` for a user, ``fed`` for a
    federated workload (`qplane.identity.federation`), the IdP's values
    for single sign-on.
    """
    if ids.is_well_formed(actor.principal_id, ids.API_KEY):
        return API_KEY_AUTH
    return auth_method_of(actor.amr)


def auth_method_of(amr: tuple[str, ...] | list[str]) -> str:
    """The auth method an ``amr`` list names (for a session being started, before any actor)."""
    return "+".join(amr)[:_MAX_METHOD] or UNKNOWN_AUTH


def source_address(source_ip: str | None) -> str | None:
    """The client's address as the server saw it, bounded to the column's size."""
    return None if source_ip is None else source_ip[:_MAX_ADDRESS]
