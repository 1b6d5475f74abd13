"""The authenticated caller of a request, as every service sees it."""

from __future__ import annotations

from dataclasses import dataclass

from qplane.domain.tenancy import PrincipalKind, Role


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting, for which tenant, and which request it belongs to.

    Built only from a verified token and the principal's current record, so
    a disabled principal or a stale role never reaches a service.
    """

    principal_id: str
    kind: PrincipalKind
    tenant_id: str | None
    roles: frozenset[Role]
    request_id: str | None = None
    source_ip: str | None = None
    amr: tuple[str, ...] = ()
    acr: str | None = None
    auth_time: int | None = None
    token_jti: str | None = None
    cnf_jkt: str | None = None
    #: Set for a legacy API key or a federated workload: the one project it may touch.
    project_id: str | None = None
    #: The projects the principal is a member of, read from the store on every
    #: request (tenant admins reach every project of their tenant regardless).
    member_of: frozenset[str] = frozenset()
    #: The tenant groups the principal is in (policies may name them).
    groups: frozenset[str] = frozenset()
    #: How recent an MFA must be for privileged actions (set by the Authenticator).
    step_up_max_age_s: int = 900

    @property
    def is_operator(self) -> bool:
        return self.kind is PrincipalKind.OPERATOR and Role.OPERATOR in self.roles
