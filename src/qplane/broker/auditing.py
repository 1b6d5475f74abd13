"""How services describe what they did to the audit log."""

from __future__ import annotations

from qplane.audit.actors import actor_facts
from qplane.audit.log import record
from qplane.domain.audit import AuditEvent, Outcome
from qplane.domain.ports import UnitOfWork
from qplane.policy.actor import Actor
from qplane.policy.determining import allowing_policies


def audit(
    uow: UnitOfWork,
    actor: Actor | str | None,
    action: str,
    *,
    tenant_id: str | None,
    target: str | None,
    outcome: Outcome = Outcome.SUCCESS,
    detail: str | None = None,
    request_id: str | None = None,
    job_id: str | None = None,
    backend: str | None = None,
    policy_ids: tuple[str, ...] | None = None,
    decision: str | None = None,
    correlations: tuple[tuple[str, str], ...] = (),
    elevation_id: str | None = None,
    actor_kind: str | None = None,
) -> None:
    """Record one event in *uow*'s transaction.

    *actor* is the acting principal, a bare id (a worker, or a principal
    signing in), or None for the platform itself; its kind, auth method and
    address are derived from it (*actor_kind* names the kind of a bare id
    that is not a worker's). *policy_ids* default to those of the decision
    that last allowed this actor (`qplane.policy.determining`). Sensitive
    values go in *correlations* only, as keyed digests
    (`qplane.audit.correlation`), never in *detail*.
    """
    facts = actor_facts(actor)
    record(
        uow,
        AuditEvent(
            action=action,
            outcome=outcome,
            tenant_id=tenant_id,
            actor_id=facts.actor_id,
            target=target,
            request_id=request_id or facts.request_id,
            detail=detail,
            actor_kind=actor_kind or facts.actor_kind,
            auth_method=facts.auth_method,
            elevation_id=elevation_id,
            decision=decision,
            policy_ids=allowing_policies(actor) if policy_ids is None else policy_ids,
            job_id=job_id,
            backend=backend,
            source_ip=facts.source_ip,
            correlations=correlations,
        ),
    )
