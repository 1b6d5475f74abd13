"""Every operation qplane authorises, named as the Cedar schema names it.

The enum is the Python face of the schema's actions: callers pass
`Action.JOB_SUBMIT`, never a string, and a test keeps the two in step.
Action groups (``privileged``, ``operator_only``, ``operator_actions``,
``worker_actions``) live only in the schema, where policies refer to them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class Action(StrEnum):
    TENANT_CREATE = "tenant.create"
    TENANT_UPDATE = "tenant.update"
    TENANT_LIST = "tenant.list"
    PROJECT_CREATE = "project.create"
    PROJECT_LIST = "project.list"
    PROJECT_MEMBERS_READ = "project.members.read"
    PROJECT_MEMBERS_MANAGE = "project.members.manage"
    USER_CREATE = "user.create"
    USER_LIST = "user.list"
    GROUP_READ = "group.read"
    GROUP_MANAGE = "group.manage"
    API_KEY_MANAGE = "api_key.manage"
    WORKER_REGISTER = "worker.register"
    WORKER_REVOKE = "worker.revoke"
    BACKEND_LIST = "backend.list"
    JOB_SUBMIT = "job.submit"
    JOB_READ = "job.read"
    JOB_LIST = "job.list"
    JOB_CANCEL = "job.cancel"
    #: One action for circuits, results and logs; the artifact's kind tells them apart.
    ARTIFACT_READ = "artifact.read"
    AUDIT_READ = "audit.read"
    #: The platform's own log: operators only.
    AUDIT_READ_PLATFORM = "audit.read_platform"
    #: An operator reads a tenant's audit log, only under a valid break-glass elevation.
    AUDIT_READ_ELEVATED = "audit.read_elevated"
    #: An operator asks for a break-glass elevation to one tenant (step-up, a reason).
    BREAK_GLASS_GRANT = "break_glass.grant"
    TRUST_POLICY_READ = "trust_policy.read"
    TRUST_POLICY_MANAGE = "trust_policy.manage"
    IDP_READ = "idp.read"
    IDP_MANAGE = "idp.manage"
    POLICY_READ = "policy.read"
    POLICY_PUSH = "policy.push"
    POLICY_APPROVE = "policy.approve"
    POLICY_ACTIVATE = "policy.activate"
    POLICY_EXPLAIN = "policy.explain"
    #: The key hierarchy of a tenant: rings, versions, states (never key material).
    KEY_READ = "key.read"
    #: Create rings, rotate, rewrap, retire old versions, move to a customer's key.
    KEY_MANAGE = "key.manage"
    #: Crypto-shred a ring: operators only, and a second operator must approve.
    KEY_SHRED = "key.shred"
    #: A tenant's quotas, plan and allowed regions (operators).
    QUOTA_MANAGE = "quota.manage"
    #: A project's quotas and allowed regions, inside its tenant's (tenant admins).
    PROJECT_LIMITS_MANAGE = "project.limits.manage"
    USAGE_READ = "usage.read"
    RESERVATION_MANAGE = "reservation.manage"
    RESERVATION_READ = "reservation.read"
    DEVICE_MAINTAIN = "device.maintain"
    SESSION_REVOKE = "session.revoke"
    TOKEN_REVOKE = "token.revoke"
    #: Execution plane: a worker takes a job and reports its outcome.
    JOB_LEASE = "job.lease"
    JOB_REPORT = "job.report"


#: The schema's ``privileged`` action group: these need a recent MFA, and an
#: allowed decision on one is audited as well as a denied one. A test keeps
#: this set and the schema's group identical.
PRIVILEGED: Final[frozenset[Action]] = frozenset(
    {
        Action.TENANT_CREATE,
        Action.TENANT_UPDATE,
        Action.WORKER_REGISTER,
        Action.WORKER_REVOKE,
        Action.GROUP_MANAGE,
        Action.TRUST_POLICY_MANAGE,
        Action.IDP_MANAGE,
        Action.KEY_MANAGE,
        Action.KEY_SHRED,
        Action.BREAK_GLASS_GRANT,
        Action.POLICY_PUSH,
        Action.POLICY_APPROVE,
        Action.POLICY_ACTIVATE,
        Action.QUOTA_MANAGE,
        Action.PROJECT_LIMITS_MANAGE,
        Action.RESERVATION_MANAGE,
        Action.DEVICE_MAINTAIN,
    }
)

#: Actions that no baseline policy permits, so only a tenant policy can grant
#: them (inside the guard rails). Every action has a baseline permit today; an
#: action added without one must be listed here, on purpose.
DENY_BY_DEFAULT: Final[frozenset[Action]] = frozenset()
