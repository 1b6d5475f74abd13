"""Role-based decisions for every tenant-facing action.

`authorize` is the single decision point the services call before acting.
Its rules are deliberately small today (roles per action, operators outside
tenants, tenants only inside their own); the policy-as-code engine replaces
the table without changing a caller.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from qplane.domain.errors import Forbidden, NotFound
from qplane.domain.tenancy import Role
from qplane.policy.actor import Actor


class Action(StrEnum):
    TENANT_CREATE = "tenant.create"
    TENANT_LIST = "tenant.list"
    PROJECT_CREATE = "project.create"
    PROJECT_LIST = "project.list"
    USER_CREATE = "user.create"
    USER_LIST = "user.list"
    WORKER_REGISTER = "worker.register"
    BACKEND_LIST = "backend.list"
    JOB_SUBMIT = "job.submit"
    JOB_READ = "job.read"
    JOB_CANCEL = "job.cancel"
    RESULT_READ = "result.read"
    AUDIT_READ = "audit.read"


_OPERATOR_ONLY: Final = frozenset(
    {Action.TENANT_CREATE, Action.TENANT_LIST, Action.WORKER_REGISTER}
)
_ADMIN: Final = frozenset({Role.TENANT_ADMIN})
_WRITERS: Final = frozenset({Role.TENANT_ADMIN, Role.MEMBER})
_READERS: Final = frozenset({Role.TENANT_ADMIN, Role.MEMBER, Role.VIEWER})

#: Which tenant roles may perform each tenant-scoped action.
TENANT_RULES: Final[dict[Action, frozenset[Role]]] = {
    Action.PROJECT_CREATE: _ADMIN,
    Action.PROJECT_LIST: _READERS,
    Action.USER_CREATE: _ADMIN,
    Action.USER_LIST: _ADMIN,
    Action.BACKEND_LIST: _READERS,
    Action.JOB_SUBMIT: _WRITERS,
    Action.JOB_READ: _READERS,
    Action.JOB_CANCEL: _WRITERS,
    Action.RESULT_READ: _READERS,
    Action.AUDIT_READ: _ADMIN,
}

#: Tenant-scoped actions an operator may also perform (administration, not data).
_OPERATOR_IN_TENANT: Final = frozenset(
    {
        Action.PROJECT_CREATE,
        Action.PROJECT_LIST,
        Action.USER_CREATE,
        Action.USER_LIST,
        Action.BACKEND_LIST,
    }
)


def authorize(actor: Actor, action: Action, tenant_id: str | None = None) -> None:
    """Return if *actor* may perform *action* in *tenant_id*; raise otherwise.

    Raises `NotFound` — never `Forbidden` — when *tenant_id* is another
    tenant's, so the answer does not confirm that tenant exists.

    Tenant members act only inside their own tenant; operators administer
    tenants but never read a tenant's jobs, results or audit through this path.
    """
    if actor.is_operator:
        if action in _OPERATOR_ONLY or action in _OPERATOR_IN_TENANT:
            return
        raise Forbidden(f"operators may not perform {action.value} on tenant data")
    if action in _OPERATOR_ONLY:
        raise Forbidden(f"{action.value} requires a platform operator")
    if actor.tenant_id is None:
        raise Forbidden(f"{action.value} requires a tenant principal")
    if tenant_id is not None and tenant_id != actor.tenant_id:
        # Another tenant answers exactly like a tenant that does not exist.
        raise NotFound("tenant not found")
    if not actor.roles & TENANT_RULES[action]:
        raise Forbidden(f"your role does not allow {action.value}")
