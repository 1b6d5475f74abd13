"""Trust policies of workload identity federation."""

from __future__ import annotations

from sqlalchemy import delete, select, update

from qplane.domain.errors import NotFound
from qplane.domain.federation import ClaimCondition, ConditionOp, TrustPolicy
from qplane.domain.tenancy import Role
from qplane.store.models import PrincipalRow
from qplane.store.models_workload import TrustPolicyRow
from qplane.store.repositories._base import Repository


class SqlTrustPolicyRepository(Repository):
    def add(self, policy: TrustPolicy) -> None:
        """Raises `NotFound` when the project is missing or another tenant's."""
        with self._guarded(conflict="trust policy already exists", missing="project not found"):
            self._session.add(
                TrustPolicyRow(
                    id=policy.id,
                    tenant_id=policy.tenant_id,
                    project_id=policy.project_id,
                    principal_id=policy.principal_id,
                    name=policy.name,
                    issuer=policy.issuer,
                    audience=policy.audience,
                    conditions=[
                        {"claim": c.claim, "op": c.op.value, "value": c.value}
                        for c in policy.conditions
                    ],
                    roles=sorted(role.value for role in policy.roles),
                    max_ttl_s=policy.max_ttl_s,
                    require_dpop=policy.require_dpop,
                    created_at=policy.created_at,
                )
            )

    def get(self, tenant_id: str, policy_id: str) -> TrustPolicy:
        row = self._first(
            select(TrustPolicyRow).where(
                TrustPolicyRow.tenant_id == tenant_id, TrustPolicyRow.id == policy_id
            )
        )
        if row is None:
            raise NotFound("trust policy not found")
        return _policy(row)

    def for_project(self, tenant_id: str, project_id: str) -> list[TrustPolicy]:
        rows = self._all(
            select(TrustPolicyRow)
            .where(TrustPolicyRow.tenant_id == tenant_id, TrustPolicyRow.project_id == project_id)
            .order_by(TrustPolicyRow.created_at, TrustPolicyRow.id)
        )
        return [_policy(row) for row in rows]

    def for_exchange(self, project_id: str, issuer: str) -> list[TrustPolicy]:
        """Token-exchange path only: a project's policies for one issuer, oldest first."""
        rows = self._all(
            select(TrustPolicyRow)
            .where(TrustPolicyRow.project_id == project_id, TrustPolicyRow.issuer == issuer)
            .order_by(TrustPolicyRow.created_at, TrustPolicyRow.id)
        )
        return [_policy(row) for row in rows]

    def for_principal(self, tenant_id: str, principal_id: str) -> TrustPolicy | None:
        """The policy a federated service principal belongs to, if any."""
        row = self._first(
            select(TrustPolicyRow).where(
                TrustPolicyRow.tenant_id == tenant_id, TrustPolicyRow.principal_id == principal_id
            )
        )
        return None if row is None else _policy(row)

    def delete(self, tenant_id: str, policy_id: str) -> TrustPolicy:
        """Remove the policy and disable its service principal (its tokens stop working)."""
        policy = self.get(tenant_id, policy_id)
        self._rowcount(
            delete(TrustPolicyRow).where(
                TrustPolicyRow.tenant_id == tenant_id, TrustPolicyRow.id == policy_id
            )
        )
        self._rowcount(
            update(PrincipalRow)
            .where(PrincipalRow.tenant_id == tenant_id, PrincipalRow.id == policy.principal_id)
            .values(disabled=True)
        )
        return policy


def _policy(row: TrustPolicyRow) -> TrustPolicy:
    return TrustPolicy(
        id=row.id,
        tenant_id=row.tenant_id,
        project_id=row.project_id,
        principal_id=row.principal_id,
        name=row.name,
        issuer=row.issuer,
        audience=row.audience,
        conditions=tuple(
            ClaimCondition(c["claim"], ConditionOp(c["op"]), c["value"]) for c in row.conditions
        ),
        roles=frozenset(Role(name) for name in row.roles),
        max_ttl_s=row.max_ttl_s,
        require_dpop=row.require_dpop,
        created_at=row.created_at,
    )
