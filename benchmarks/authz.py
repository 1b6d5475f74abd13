"""Decision latency and throughput of the policy engine, printed as JSON.

A realistic tenant: 50 tenant policies (the shipped examples plus group-,
project- and classification-specific variants) on top of the platform
baseline, and a world of 1,000 entities (projects, users, groups, jobs).
Each request is built the way the API builds it — from the facts of the one
principal and the one object it is about (`access_request`), never from the
whole entity set — then decided. Requests cycle through a mix of actions
(submit, read, list, artifact reads, administration) by random principals on
random objects.

Usage: python benchmarks/authz.py [--decisions N] [--seed N]
"""

from __future__ import annotations

import argparse
import json
import platform as host
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from qplane.domain.backends import BackendKind
from qplane.domain.tenancy import PrincipalKind
from qplane.policy.actions import Action
from qplane.policy.context import AuthFacts
from qplane.policy.engine import PolicyEngine
from qplane.policy.facts import (
    ArtifactFacts,
    ArtifactKind,
    BackendFacts,
    GroupFacts,
    JobFacts,
    PrincipalFacts,
    ProjectFacts,
    TenantFacts,
)
from qplane.policy.request import AccessRequest, ResourceLike, access_request

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "policies"
TENANT = TenantFacts("acme", "acme", "Europe/Berlin", "eu-central")
BACKENDS = [
    BackendFacts("aer_statevector", BackendKind.SIMULATOR, "eu-central", False, 26),
    BackendFacts("aer_mps", BackendKind.SIMULATOR, "eu-central", False, 63),
    BackendFacts("qpu_eagle", BackendKind.QPU, "us-east", True, 127),
    BackendFacts("qpu_test", BackendKind.QPU, "eu-west", False, 27),
]


def tenant_policies(count: int) -> str:
    """The five shipped examples, then variants until *count* policies."""
    texts = [p.read_text() for p in sorted(EXAMPLES.glob("*/*.cedar"))]
    policies = "\n".join(texts)
    made = policies.count("@id(")
    variant = 0
    while made < count:
        variant += 1
        policies += (
            f'\n@id("team-{variant}-no-restricted")\n'
            f'forbid (principal in Qplane::Group::"team-{variant}", '
            f'action == Qplane::Action::"job.submit", resource)\n'
            f'when {{ resource.classification == "restricted" && resource.qubits > {variant} }};\n'
        )
        made += 1
    return policies


def world(entities: int, rng: random.Random) -> tuple[list[PrincipalFacts], list[ResourceLike]]:
    """About *entities* entities: 20 projects, 30 groups, users and jobs."""
    projects = [ProjectFacts(f"prj_{i}", TENANT, f"p{i}") for i in range(20)]
    groups = [GroupFacts(f"team-{i}", TENANT.id) for i in range(1, 26)] + [
        GroupFacts(name, TENANT.id)
        for name in (
            "acme-approvers",
            "acme-consultants",
            "acme-researchers",
            "ops",
            "physics",
        )
    ]
    users = []
    for i in range((entities - 50) // 2):
        users.append(
            PrincipalFacts(
                f"usr_{i}",
                PrincipalKind.USER,
                TENANT,
                frozenset(rng.sample(["member", "viewer", "tenant_admin"], k=1)),
                frozenset(p.id for p in rng.sample(projects, k=3)),
                tuple(rng.sample(groups, k=2)),
            )
        )
    jobs: list[ResourceLike] = []
    for i in range(entities - 50 - len(users)):
        jobs.append(
            JobFacts(
                f"job_{i}",
                rng.choice(projects),
                rng.choice(users).id,
                rng.choice(BACKENDS),
                rng.randint(1, 60),
                rng.randint(1, 100_000),
                rng.choice(["public", "internal", "confidential", "restricted"]),
            )
        )
    return users, jobs + list(projects)


def request_mix(
    users: list[PrincipalFacts], objects: list[ResourceLike], n: int, rng: random.Random
) -> list[AccessRequest]:
    start = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    requests = []
    for _ in range(n):
        principal = rng.choice(users)
        resource = rng.choice(objects)
        if isinstance(resource, JobFacts):
            action, target = rng.choice(
                [
                    (Action.JOB_SUBMIT, resource),
                    (Action.JOB_READ, resource),
                    (Action.JOB_CANCEL, resource),
                    (
                        Action.ARTIFACT_READ,
                        ArtifactFacts(f"{resource.id}/result", resource, ArtifactKind.RESULT),
                    ),
                    (
                        Action.ARTIFACT_READ,
                        ArtifactFacts(f"{resource.id}/circuit", resource, ArtifactKind.CIRCUIT),
                    ),
                ]
            )
        else:
            action, target = rng.choice(
                [(Action.JOB_LIST, resource), (Action.PROJECT_MEMBERS_READ, resource)]
            )
        auth = AuthFacts(mfa=rng.random() < 0.5, auth_age_s=rng.randint(0, 3600))
        at = start + timedelta(minutes=rng.randint(0, 7 * 24 * 60))
        requests.append((principal, action, target, auth, at))
    return [access_request(p, a, t, auth=f, at=at) for p, a, t, f, at in requests]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--decisions", type=int, default=5000)
    parser.add_argument("--policies", type=int, default=50)
    parser.add_argument("--entities", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    engine = PolicyEngine()
    policies = engine.load_tenant_policies(TENANT.id, tenant_policies(args.policies))
    users, objects = world(args.entities, rng)
    requests = request_mix(users, objects, args.decisions, rng)
    engine.decide(requests[0], policies)  # compile and cache the combined set once

    latencies = []
    allowed = 0
    began = time.perf_counter()
    for request in requests:
        t0 = time.perf_counter()
        allowed += engine.decide(request, policies).allowed
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - began

    # The API's path also builds each request from facts: measure that with it.
    built = []
    rng2 = random.Random(args.seed + 1)
    t0 = time.perf_counter()
    for request in request_mix(users, objects, 1000, rng2):
        engine.decide(request, policies)
    built.append((time.perf_counter() - t0) / 1000)

    latencies.sort()
    print(
        json.dumps(
            {
                "benchmark": "authz",
                "host": {"python": host.python_version(), "machine": host.machine()},
                "tenant_policies": len(policies.policies),
                "entities": len(users) + len(objects) + 30,
                "decisions": len(requests),
                "allowed_share": round(allowed / len(requests), 3),
                "p50_ms": round(statistics.median(latencies) * 1000, 3),
                "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 3),
                "decisions_per_s": round(len(requests) / elapsed),
                "build_and_decide_mean_ms": round(built[0] * 1000, 3),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
