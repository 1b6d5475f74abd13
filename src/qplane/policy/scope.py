"""Project scope: an actor limited to one project (a legacy API key) sees only that project.

Checked by the services after `authorize`, next to the tenant check, and
answered like the tenant rule: an object outside the actor's project is
`NotFound` — never `Forbidden` — so a key cannot probe other projects.
"""

from __future__ import annotations

from qplane.domain.errors import NotFound
from qplane.policy.actor import Actor


def require_project(actor: Actor, project_id: str, missing: str = "project not found") -> None:
    """Return if *actor* may touch *project_id*; raise `NotFound(missing)` otherwise."""
    if actor.project_id is not None and actor.project_id != project_id:
        raise NotFound(missing)
