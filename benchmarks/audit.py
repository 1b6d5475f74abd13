"""The stored audit log's speed on SQLite and PostgreSQL (issue 6, point 8). Prints JSON.

Unlike benchmarks/merkle.py (the tree in memory), this measures what a
request pays, through the real code on a real database (a temporary SQLite
file; a scratch PostgreSQL database, owned by a scratch unprivileged role so
row-level security applies as deployed, both dropped afterwards):

* appends per second: `qplane.audit.log.record` in units of work of
  `qplane.store.Database`, confined to the tenant as an API request is —
  one entry per transaction; a job submission's transaction (insert the job,
  move it to validated and queued, three entries: `JobService.submit` without
  its authorisation, validation and sealing) against the same transaction
  without the entries; and several threads appending at once to different
  logs or to the same log (appenders to one log queue on its head row);
* inclusion proofs at each size: a fresh unit of work per proof reading the
  entry, then `MerkleTree(StoredNodes(uow.audit, log), size).inclusion_proof`
  as `AuditService.inclusion` does, with the stored nodes read per proof —
  a proof must grow with log n, not n;
* full verification: `AuditService.verify` (every entry re-hashed and held
  against its stored leaf, every signed checkpoint, the head) over a log
  with four checkpoints signed by Ed25519 and composite ML-DSA-65 keys.

Logs for the proof and verification sizes are bulk-loaded, not appended one
by one (10^6 `record` calls would take most of an hour): the loader writes
the rows `record` writes — each entry's columns, the tree nodes its leaf
completed (`CompactRange`), the head — with executemany, and the
verification run reads them back and checks every leaf.

Usage: python benchmarks/audit.py [--quick] [--databases sqlite,postgresql]
           [--postgres-url URL] [--sizes 1000,100000,1000000] [--seed N]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform as host
import random
import secrets
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

import psycopg
from psycopg import sql
from sqlalchemy import insert, make_url, text

from qplane.audit.checkpoint import sign_checkpoint
from qplane.audit.entry import entry_leaf
from qplane.audit.log import CLOCK, record
from qplane.audit.merkle_tree import CompactRange, MerkleTree, NodeId
from qplane.audit.service import AuditService
from qplane.audit.signing import CheckpointKeys
from qplane.audit.stored_nodes import StoredNodes
from qplane.broker.auditing import audit
from qplane.broker.lifecycle import move
from qplane.domain import ids
from qplane.domain.audit import AuditEntry, AuditEvent, Outcome, StoredCheckpoint
from qplane.domain.clock import utcnow
from qplane.domain.jobs import Job, JobState, SourceFormat, Transition
from qplane.domain.ports import UnitOfWork
from qplane.domain.tenancy import Principal, PrincipalKind, Project, Role, Tenant
from qplane.domain.tenant_scope import confined_to
from qplane.store import Database
from qplane.store.models_audit import AuditEntryRow, AuditLogRow, AuditNodeRow

ORIGIN: Final = "bench.qplane.local"
#: Leaves per bulk-load transaction.
CHUNK: Final = 10_000
HMAC: Final = "hmac-sha256:" + "ab" * 32


@dataclass(frozen=True)
class Plan:
    sizes: tuple[int, ...]
    verify_entries: int
    appends: int
    job_submits: int
    threads: int
    per_thread: int
    proofs: int
    appends_at_size: int


FULL: Final = Plan((1000, 100_000, 1_000_000), 100_000, 2000, 500, 4, 250, 200, 200)
QUICK: Final = Plan((1000, 10_000), 10_000, 200, 50, 4, 25, 50, 50)


# -- appends -----------------------------------------------------------------------
def _event(tenant: str, n: int) -> AuditEvent:
    """An entry the size of a job's: ids, a policy, a backend, a keyed digest."""
    return AuditEvent(
        action="job.queued",
        outcome=Outcome.SUCCESS,
        tenant_id=tenant,
        actor_id="usr_01jbench0000000000000000",
        target=f"job_{n:026d}",
        request_id=f"req-{n:032x}",
        detail="validated->queued",
        actor_kind="user",
        auth_method="pwd",
        policy_ids=("platform.baseline",),
        job_id=f"job_{n:026d}",
        backend="aer_statevector",
        source_ip="203.0.113.7",
        correlations=(("circuit", HMAC),),
    )


def _timed(count: int, transaction: Callable[[int], None]) -> list[float]:
    timings = []
    for n in range(count):
        started = time.perf_counter()
        transaction(n)
        timings.append(time.perf_counter() - started)
    return timings


def _rate(timings: Sequence[float], entries_per_transaction: int) -> dict[str, object]:
    ordered = sorted(timings)
    return {
        "transactions": len(timings),
        "entries_per_transaction": entries_per_transaction,
        "transactions_per_s": round(len(timings) / sum(timings)),
        "appends_per_s": round(len(timings) * entries_per_transaction / sum(timings)),
        "transaction_ms_p50": round(statistics.median(ordered) * 1e3, 2),
        "transaction_ms_p99": round(ordered[math.ceil(len(ordered) * 0.99) - 1] * 1e3, 2),
    }


def _append_one(db: Database, tenant: str) -> Callable[[int], None]:
    def transaction(n: int) -> None:
        with confined_to(tenant), db.unit_of_work() as uow:
            record(uow, _event(tenant, n))
            uow.commit()

    return transaction


def _new_side(db: Database) -> tuple[str, str, str]:
    """A tenant, a project and a member (tenant id, project id, member id)."""
    now = utcnow()
    tenant = Tenant(ids.new_id(ids.TENANT), "bench", max_running_jobs=8, created_at=now)
    project = Project(ids.new_id(ids.PROJECT), tenant.id, "bench", created_at=now)
    owner = Principal(
        ids.new_id(ids.PRINCIPAL),
        PrincipalKind.USER,
        tenant.id,
        "member@bench.example",
        frozenset({Role.MEMBER}),
    )
    with db.unit_of_work() as uow:
        uow.tenants.add(tenant)
        uow.projects.add(project)
        uow.principals.add(owner, password_hash=None)
        uow.commit()
    return tenant.id, project.id, owner.id


def _submit(uow: UnitOfWork, tenant: str, project: str, owner: str, audited: bool) -> None:
    now = utcnow()
    job = Job(
        id=ids.new_id(ids.JOB),
        tenant_id=tenant,
        project_id=project,
        owner_id=owner,
        backend="aer_statevector",
        shots=1000,
        source_format=SourceFormat.QASM2,
        state=JobState.SUBMITTED,
        tags=(),
        created_at=now,
        updated_at=now,
        history=(Transition(JobState.SUBMITTED, now),),
    )
    uow.jobs.add(job)
    if audited:
        detail = f"backend={job.backend} shots={job.shots}"
        audit(uow, owner, "job.submitted", tenant_id=tenant, target=job.id, detail=detail)
    for state in (JobState.VALIDATED, JobState.QUEUED):
        if audited:
            job = move(uow, job, state, owner)
        else:
            job = job.moved_to(state, utcnow())
            uow.jobs.save(job)


def _job_submits(db: Database, count: int) -> dict[str, object]:
    """Both variants alternate, so drift on a shared machine hits them alike."""
    tenant, project, owner = _new_side(db)

    def submit(audited: bool) -> Callable[[int], None]:
        def transaction(_: int) -> None:
            with confined_to(tenant), db.unit_of_work() as uow:
                _submit(uow, tenant, project, owner, audited)
                uow.commit()

        return transaction

    with_audit: list[float] = []
    without: list[float] = []
    for _ in range(count):
        with_audit += _timed(1, submit(True))
        without += _timed(1, submit(False))
    return {
        "job_submit_with_audit": _rate(with_audit, 3),
        "job_submit_without_audit": _rate(without, 0),
        "audit_share_of_job_submit_p50": round(
            1 - statistics.median(without) / statistics.median(with_audit), 3
        ),
    }


def _concurrent(db: Database, threads: int, per_thread: int, shared: bool) -> int:
    logs = ["bench-shared" if shared else f"bench-writer-{i}" for i in range(threads)]
    for log in set(logs):  # the first append to a log creates its head: not measured
        _append_one(db, log)(0)

    def writer(log: str) -> None:
        for n in range(per_thread):
            _append_one(db, log)(n)

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(writer, logs))
    return round(threads * per_thread / (time.perf_counter() - started))


def _appends(db: Database, plan: Plan) -> dict[str, object]:
    single = _append_one(db, "bench-appends")
    single(0)  # warm-up: creates the log's head
    return {
        "one_entry_per_transaction": _rate(_timed(plan.appends, single), 1),
        **_job_submits(db, plan.job_submits),
        "concurrent": {
            "threads": plan.threads,
            "transactions_per_thread": plan.per_thread,
            "different_logs_appends_per_s": _concurrent(db, plan.threads, plan.per_thread, False),
            "same_log_appends_per_s": _concurrent(db, plan.threads, plan.per_thread, True),
        },
    }


# -- bulk loading --------------------------------------------------------------------
def _entry(log: str, index: int, at: datetime, clock: str) -> AuditEntry:
    """The entry `record` would make of `_event` (same fields, correlations sorted)."""
    event = _event(log, index)
    carried = {field.name: getattr(event, field.name) for field in fields(event)}
    carried["correlations"] = tuple(sorted(event.correlations))
    return AuditEntry(log=log, index=index, at=at, clock=clock, **carried)


def _entry_row(entry: AuditEntry) -> dict[str, Any]:
    """The columns `SqlAuditRepository.append` stores for *entry*."""
    special = {
        "idx": entry.index,
        "outcome": entry.outcome.value,
        "policy_ids": list(entry.policy_ids),
        "correlations": dict(entry.correlations),
    }
    return {
        column.key: special[column.key] if column.key in special else getattr(entry, column.key)
        for column in AuditEntryRow.__table__.columns
    }


def _bulk_load(db: Database, log: str, size: int, keys: CheckpointKeys) -> float:
    """Store a log of *size* entries, signed at each quarter; returns the seconds it took."""
    started = time.perf_counter()
    border, roots = CompactRange(), {}
    quarters = {size * q // 4 for q in (1, 2, 3, 4)} - {0}
    first_at, clock = utcnow() - timedelta(milliseconds=size), CLOCK.describe()
    for chunk in range(0, size, CHUNK):
        entries: list[dict[str, Any]] = []
        nodes: list[dict[str, object]] = []
        for index in range(chunk, min(size, chunk + CHUNK)):
            entry = _entry(log, index, first_at + timedelta(milliseconds=index), clock)
            entries.append(_entry_row(entry))
            nodes.extend(
                _node_row(log, node, digest) for node, digest in border.append(entry_leaf(entry))
            )
            if border.size in quarters:
                roots[border.size] = border.root()
        with db.engine.begin() as connection:
            connection.execute(insert(AuditEntryRow), entries)
            connection.execute(insert(AuditNodeRow), nodes)
    head = {"log": log, "size": size, "border": b"".join(border.hashes), "root": border.root()}
    with db.engine.begin() as connection:
        connection.execute(insert(AuditLogRow), [{**head, "pruned_below": 0}])
    origin = AuditService(db, keys).origin(log)
    with db.unit_of_work() as uow:
        for tree_size, root in sorted(roots.items()):
            now = utcnow()
            note = sign_checkpoint(origin, tree_size, root, keys.signers, timestamp=now)
            uow.audit.add_checkpoint(StoredCheckpoint(log, tree_size, root, now, note))
        uow.commit()
    return time.perf_counter() - started


def _node_row(log: str, node: NodeId, digest: bytes) -> dict[str, object]:
    return {"log": log, "level": node.level, "idx": node.index, "hash": digest}


# -- proofs and verification -----------------------------------------------------------
class CountingNodes(StoredNodes):
    """The stored nodes as `AuditService` reads them, counting reads."""

    reads = 0

    def node(self, node: NodeId) -> bytes:
        self.reads += 1
        return super().node(node)


def _proofs(db: Database, log: str, count: int, rng: random.Random) -> dict[str, object]:
    with db.unit_of_work() as uow:
        head = uow.audit.head(log)
    assert head is not None
    proof_s, request_s, reads = [], [], []
    for sample in range(count + 5):  # the first five warm the connection up
        index = rng.randrange(head.size)
        started = time.perf_counter()
        with db.unit_of_work() as uow:
            entry = uow.audit.entry(log, index)
            proving = time.perf_counter()
            nodes = CountingNodes(uow.audit, log)
            proof = MerkleTree(nodes, head.size).inclusion_proof(index, head.size)
            proved = time.perf_counter()
        finished = time.perf_counter()
        assert entry is not None
        proof.verify(entry_leaf(entry), head.root)  # a benchmark of wrong proofs is worthless
        if sample >= 5:
            proof_s.append(proved - proving)
            request_s.append(finished - started)
            reads.append(nodes.reads)
    return {
        "entries": head.size,
        "proofs": count,
        "proof_us_mean": round(statistics.fmean(proof_s) * 1e6),
        "proof_us_p99": round(sorted(proof_s)[math.ceil(count * 0.99) - 1] * 1e6),
        "node_reads_mean": round(statistics.fmean(reads), 1),
        "node_reads_max": max(reads),
        "with_entry_read_and_transaction_us_mean": round(statistics.fmean(request_s) * 1e6),
    }


def _growth(proofs: Sequence[dict[str, Any]]) -> dict[str, object]:
    small, large = proofs[0], proofs[-1]
    return {
        "from_entries": small["entries"],
        "to_entries": large["entries"],
        "entries_ratio": large["entries"] / small["entries"],
        "log2_entries_ratio": round(math.log2(large["entries"]) / math.log2(small["entries"]), 2),
        "proof_time_ratio": round(large["proof_us_mean"] / small["proof_us_mean"], 2),
        "node_reads_ratio": round(large["node_reads_mean"] / small["node_reads_mean"], 2),
    }


def _verification(db: Database, log: str, keys: CheckpointKeys) -> dict[str, object]:
    service = AuditService(db, keys)
    started = time.perf_counter()
    report = service.verify(log)
    seconds = time.perf_counter() - started
    if not report.ok:
        raise SystemExit(f"the benchmark's own log does not verify: {report.describe()}")
    return {
        "entries": report.entries,
        "signed_checkpoints": report.checkpoints,
        "seconds": round(seconds, 2),
        "s_per_100k_entries": round(seconds * 100_000 / report.entries, 2),
    }


def _stored_logs(
    db: Database, plan: Plan, keys: CheckpointKeys, rng: random.Random
) -> dict[str, Any]:
    proofs, verification = [], None
    for size in sorted({*plan.sizes, plan.verify_entries}):
        log = f"bench-log-{size}"
        load_s = _bulk_load(db, log, size, keys)
        os.sync()  # the load's gigabyte of dirty pages must not slow what is timed next
        if size == plan.verify_entries:
            verification = _verification(db, log, keys)
        if size in plan.sizes:
            measured = _proofs(db, log, plan.proofs, rng)
            appended = _rate(_timed(plan.appends_at_size, _append_one(db, log)), 1)
            proofs.append(
                {
                    **measured,
                    "bulk_load_s": round(load_s, 1),
                    "appends_per_s_at_this_size": appended["appends_per_s"],
                }
            )
    return {
        "inclusion_proofs": proofs,
        "inclusion_proof_growth": _growth(proofs),
        "verification": verification,
    }


# -- databases -----------------------------------------------------------------------
def _server(db: Database) -> dict[str, object]:
    if db.dialect == "sqlite":
        return {"engine": f"SQLite {sqlite3.sqlite_version}", "journal": "WAL", "file": "temp dir"}
    with db.engine.connect() as connection:
        version = connection.execute(text("SHOW server_version")).scalar_one()
        commit = connection.execute(text("SHOW synchronous_commit")).scalar_one()
    return {
        "engine": f"PostgreSQL {version}",
        "synchronous_commit": commit,
        "row_level_security_enforced": not db.row_security_bypassed(),
    }


@contextlib.contextmanager
def _scratch(kind: str, tmp: Path, postgres_url: str) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'audit-bench.db'}"
        return
    server = make_url(postgres_url)
    admin = server.set(drivername="postgresql").render_as_string(hide_password=False)
    name, password = f"qplane_bench_{secrets.token_hex(4)}", secrets.token_hex(16)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(
            sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD {}").format(
                sql.Identifier(name), sql.Literal(password)
            )
        )
        connection.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(name)
            )
        )
    try:
        url = server.set(
            drivername="postgresql+psycopg", username=name, password=password, database=name
        )
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            connection.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def _measure(url: str, plan: Plan, keys: CheckpointKeys, seed: int) -> dict[str, Any]:
    """Every database proves the same entries: each starts from the same seed."""
    rng = random.Random(seed)
    db = Database(url)
    try:
        db.upgrade()
        return {
            "server": _server(db),
            "appends": _appends(db, plan),
            **_stored_logs(db, plan, keys, rng),
        }
    finally:
        db.dispose()


def _plan(args: argparse.Namespace) -> Plan:
    plan = QUICK if args.quick else FULL
    if args.sizes:
        plan = replace(plan, sizes=tuple(int(size) for size in args.sizes.split(",")))
    return plan


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="CI-sized: 10^3 and 10^4 entries")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument(
        "--postgres-url",
        default="postgresql+psycopg://127.0.0.1:5432/test",
        help="a server whose user may create (and drop) a scratch role and database",
    )
    parser.add_argument("--sizes", help="proof log sizes, comma-separated")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    plan = _plan(args)
    machine = {
        "cpus": os.cpu_count(),
        "python": host.python_version(),
        "system": host.platform(),
        "load_average_at_start": [round(load, 2) for load in os.getloadavg()],
    }
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="qplane-audit-bench-") as tmp:
        keys = CheckpointKeys.load_or_create(Path(tmp) / "keys", ORIGIN)
        for kind in args.databases.split(","):
            with _scratch(kind, Path(tmp), args.postgres_url) as url:
                results[kind] = _measure(url, plan, keys, args.seed)
    machine["load_average_at_end"] = [round(load, 2) for load in os.getloadavg()]
    print(
        json.dumps(
            {
                "benchmark": "audit",
                "mode": "quick" if args.quick else "full",
                "machine": machine,
                "fill": (
                    "appends go through qplane.audit.log.record; the proof and verification "
                    "logs are bulk-loaded with executemany (the rows record() writes: entry "
                    "columns, completed tree nodes, head), then read back by the verification"
                ),
                "databases": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
