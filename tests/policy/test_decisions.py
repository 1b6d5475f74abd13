"""Who may do what: roles inside a tenant, operators outside every tenant."""

from __future__ import annotations

import pytest

from qplane.domain.errors import Forbidden, NotFound
from qplane.domain.tenancy import PrincipalKind, Role
from qplane.policy.actor import Actor
from qplane.policy.decisions import TENANT_RULES, Action, authorize

TENANT_A, TENANT_B = "ten_" + "a" * 32, "ten_" + "b" * 32


def _actor(*roles: Role, tenant: str | None = TENANT_A) -> Actor:
    kind = PrincipalKind.OPERATOR if tenant is None else PrincipalKind.USER
    return Actor("usr_" + "1" * 32, kind, tenant, frozenset(roles))


OPERATOR = _actor(Role.OPERATOR, tenant=None)


@pytest.mark.parametrize(
    "action",
    [Action.JOB_READ, Action.RESULT_READ, Action.AUDIT_READ, Action.JOB_SUBMIT, Action.JOB_CANCEL],
)
def test_operators_never_reach_tenant_data(action: Action) -> None:
    with pytest.raises(Forbidden):
        authorize(OPERATOR, action, TENANT_A)


@pytest.mark.parametrize(
    "action", [Action.TENANT_CREATE, Action.TENANT_LIST, Action.WORKER_REGISTER]
)
def test_tenant_admins_cannot_perform_operator_actions(action: Action) -> None:
    with pytest.raises(Forbidden):
        authorize(_actor(Role.TENANT_ADMIN), action)


@pytest.mark.parametrize("action", list(TENANT_RULES))
def test_another_tenant_answers_like_a_missing_one(action: Action) -> None:
    admin = _actor(Role.TENANT_ADMIN, Role.MEMBER)
    with pytest.raises(NotFound):
        authorize(admin, action, TENANT_B)


def test_viewers_read_but_do_not_submit_or_cancel() -> None:
    viewer = _actor(Role.VIEWER)
    authorize(viewer, Action.JOB_READ, TENANT_A)
    authorize(viewer, Action.RESULT_READ, TENANT_A)
    for action in (Action.JOB_SUBMIT, Action.JOB_CANCEL, Action.AUDIT_READ, Action.USER_CREATE):
        with pytest.raises(Forbidden):
            authorize(viewer, action, TENANT_A)


def test_members_submit_but_do_not_administer() -> None:
    member = _actor(Role.MEMBER)
    authorize(member, Action.JOB_SUBMIT, TENANT_A)
    with pytest.raises(Forbidden):
        authorize(member, Action.USER_CREATE, TENANT_A)


def test_a_principal_with_no_role_may_do_nothing() -> None:
    nobody = _actor()
    for action in TENANT_RULES:
        with pytest.raises(Forbidden):
            authorize(nobody, action, TENANT_A)
