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
from qplane.identity.stepup import require_recent_mfa
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
    TRUST_POLICY_READ = "trust_policy.read"
    TRUST_POLICY_MANAGE = "trust_policy.manage"
    IDP_READ = "idp.read"
    IDP_MANAGE = "idp.manage"


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
    Action.TRUST_POLICY_READ: _ADMIN,
    Action.TRUST_POLICY_MANAGE: _ADMIN,
    Action.IDP_READ: _ADMIN,
    Action.IDP_MANAGE: _ADMIN,
}

#: Privileged actions: besides the role, they need a recent MFA (step-up).
#: Services performing one call `authorize` and then `require_privileged`.
PRIVILEGED: Final = frozenset({Action.IDP_MANAGE, Action.TRUST_POLICY_MANAGE})

#: Operator actions that change the platform or a tenant: they also need a
#: recent MFA (step-up), checked inside `authorize`.
_OPERATOR_STEP_UP: Final = frozenset(
    {Action.TENANT_CREATE, Action.WORKER_REGISTER, Action.PROJECT_CREATE, Action.USER_CREATE}
)

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


def require_privileged(actor: Actor, action: Action) -> None:
    """The single hook for step-up authentication on a `PRIVILEGED` action.

    Called after `authorize` succeeded. The MFA step-up (a recent
    ``auth_time`` with an MFA ``amr``/``acr``, see `qplane.identity.stepup`)
    is enforced here, so every privileged service is covered at once; it
    raises `StepUpRequired` (401 with the RFC 9470 challenge).
    """
    if action not in PRIVILEGED:
        raise ValueError(f"{action.value} is not a privileged action")
    require_recent_mfa(actor)


def authorize(actor: Actor, action: Action, tenant_id: str | None = None) -> None:
    """Return if *actor* may perform *action* in *tenant_id*; raise otherwise.

    Raises `NotFound` — never `Forbidden` — when *tenant_id* is another
    tenant's, so the answer does not confirm that tenant exists.

    Tenant members act only inside their own tenant; operators administer
    tenants but never read a tenant's jobs, results or audit through this path.
    """
    if actor.is_operator:
        if action in _OPERATOR_STEP_UP:
            require_recent_mfa(actor)  # operator changes are privileged: recent MFA
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
