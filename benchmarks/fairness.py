"""Noisy neighbour on a scarce device: does a flooding tenant starve the others? Prints JSON.

Issue 7, point 9. A real platform (`build_platform` on a temporary data
directory: SQLite, or a scratch database on the PostgreSQL server given by
``--database-url``), with dispatch jitter 0 so that only the scheduler
decides when a job starts, and one exclusive emulated QPU (``emu_heavyhex_27``)
that runs one job at a time. Tenants A, B and C are on the same plan.

One thread is the device's worker: it leases through `DispatchService.lease_batch`
(waiting on the work signal between empty leases, as the internal API's long
poll does), starts the job, holds the device for the job's modelled device
time times ``--device-scale``, and reports a signed result (counts adding up
to the shots, the leased calibration id, ``device_time_s``) through
`DispatchService.complete`: the whole dispatch path runs, and fair share is
settled with metered time. Aer is NOT run: this measures the scheduler, not
the simulator, whose run time would only add noise to the queue waits.

* Run 1 (contention): A submits ``--a-jobs`` jobs through `JobService.submit`
  as fast as one thread can, while B and C each submit one job per second for
  ``--duration`` seconds (B at k + 0.25 s, C at k + 0.75 s, so they never
  queue behind each other). Run 2 (baseline): the same without A, on a fresh
  platform. Each tenant's first job (policy compilation, key ring) is a
  warm-up and not counted. Queue wait = dispatched_at - created_at.
* Beside the waits, for each job of B and C: how many other tenants' jobs
  were leased after it was queued. Machine speed hardly moves it: under fair
  share it is 0-2 (the lease under way, the other steady tenant), under FIFO
  it is the flooder's backlog.
* Jain's fairness index over the device time each tenant received while all
  three competed (run 1: the jobs submitted in the first ``--duration`` - 1
  seconds, received if leased before ``--duration``; see `device_time`):
  - raw, over the received device time itself. It is 1 only when every
    tenant gets the same amount, so here, where B and C ask for one job a
    second and A for everything, a low raw index is the CORRECT outcome:
    holding A back to B's share would leave the device idle;
  - normalised, the form Jain, Chiu and Hawe give for unequal demands:
    x_i = received_i / fair_i with fair_i = min(demand_i, level), tenant i's
    max-min fair share of the device time delivered (water-filling over the
    device time each asked for). THIS is the index that shows A did not
    starve B and C: it is 1 when B and C got all they asked for and A the
    rest, and falls when they wait behind A (0.47 in a small run with the
    scheduler swapped for FIFO).
* Scheduler decisions per second: leases granted over the time spent inside
  `lease_batch` in run 1 (lock waits behind A's submissions included), and a
  tight loop of `lease_batch` over a deep queue of many tenants (each leased
  job is released, untimed, so the exclusive device is free again).

Usage: python benchmarks/fairness.py [--a-jobs 2000] [--duration 60] [--device-scale 0.0075]
           [--deep-tenants 50] [--deep-jobs 20] [--decisions 500] [--database-url URL]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform as host
import secrets
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import psycopg
from fairness_figures import Run, device_time, job_counts, percentile, queue_wait
from psycopg import sql
from sqlalchemy import make_url

from qplane.backends.base import MetadataValue, RunResult
from qplane.bootstrap import Platform, build_platform
from qplane.broker.dispatch import LeaseGrant
from qplane.broker.jobs import SubmitRequest
from qplane.config import Settings
from qplane.domain import ids
from qplane.domain.clock import utcnow
from qplane.domain.jobs import Job, JobState, SourceFormat
from qplane.domain.tenancy import MANUAL_MEMBERSHIP, Principal, PrincipalKind, ProjectMember, Role
from qplane.domain.workers import WorkerRecord
from qplane.identity.workload import WorkerKey, sign_result
from qplane.policy.actor import Actor

DEVICE: Final = "emu_heavyhex_27"
SHOTS: Final = 100
PLAN: Final = "standard"
BELL: Final = """OPENQASM 2.0;
include "qelib1.inc";
qreg q[2];
creg c[2];
h q[0];
cx q[0],q[1];
measure q -> c;
"""
#: How often an idle device loop looks at the work signal (the internal API: 10 ms).
WATCH_S: Final = 0.002
#: When in each second B and C submit.
STEADY: Final = {"B": 0.25, "C": 0.75}


@dataclass
class DeviceLoop:
    """The device's worker: lease, start, hold the device, report a signed result."""

    platform: Platform
    worker: WorkerRecord
    key: WorkerKey
    scale: float
    leased: list[Job] = field(default_factory=list)
    completed: set[str] = field(default_factory=set)
    lease_calls: int = 0
    lease_s: float = 0.0

    def leased_ids(self) -> set[str]:
        return {job.id for job in self.leased}

    def reset(self) -> None:
        """Forget what the warm-up measured."""
        self.leased, self.lease_calls, self.lease_s = [], 0, 0.0

    def run(self, stop: threading.Event) -> None:
        signal = self.platform.dispatch.signal
        while not stop.is_set():
            seen = signal.generation
            grants = self._lease()
            if grants:
                self._hold_and_report(grants[0])
                continue
            recheck = time.monotonic() + 1.0
            while signal.generation == seen and time.monotonic() < recheck and not stop.is_set():
                time.sleep(WATCH_S)

    def _lease(self) -> list[LeaseGrant]:
        started = time.perf_counter()
        grants = self.platform.dispatch.lease_batch(self.worker, [DEVICE], 1)
        self.lease_s += time.perf_counter() - started
        self.lease_calls += 1
        self.leased.extend(grant.job for grant in grants)
        return grants

    def _hold_and_report(self, grant: LeaseGrant) -> None:
        dispatch, job, lease_id = self.platform.dispatch, grant.job, grant.lease.id
        dispatch.start(self.worker, lease_id)
        device_s = job.estimated_s or 0.0
        time.sleep(device_s * self.scale)
        payload = _result(grant, device_s, self.scale).encode()
        signature = sign_result(self.key, job.id, lease_id, payload)
        done = dispatch.complete(self.worker, lease_id, payload, signature)
        if done.state is not JobState.VERIFIED:
            raise SystemExit(f"the benchmark's own result failed verification: {done.reason}")
        self.completed.add(job.id)


def _result(grant: LeaseGrant, device_s: float, scale: float) -> str:
    """A valid result without running the circuit: counts add up, the leased calibration."""
    job, calibration = grant.job, grant.calibration
    metadata: dict[str, MetadataValue] = {"device_time_s": device_s}
    if calibration is not None:
        metadata["calibration_id"] = calibration.id
    half = job.shots // 2
    return RunResult(
        counts={"00": half, "11": job.shots - half},
        shots=job.shots,
        backend=job.backend,
        seed=job.seed or 0,
        execution_time_s=device_s * scale,
        metadata=metadata,
    ).to_json()


# -- the platform, its tenants and their submissions -------------------------------------
def _platform(data_dir: Path, database_url: str | None) -> Platform:
    settings = Settings(data_dir=data_dir, database_url=database_url, dispatch_jitter_s=0.0)
    return build_platform(settings)


def _member(platform: Platform, name: str) -> tuple[Actor, str]:
    """A tenant (with its key ring) on `PLAN`, a project, and a member of it (no password)."""
    operator = Actor(
        "usr_" + "0" * 32,
        PrincipalKind.OPERATOR,
        None,
        frozenset({Role.OPERATOR}),
        amr=("pwd", "otp"),  # operator changes need a recent MFA
        auth_time=int(time.time()),
    )
    tenant = platform.tenancy.create_tenant(operator, name, 8)
    project = platform.tenancy.create_project(operator, tenant.id, "main")
    roles = frozenset({Role.MEMBER})
    member = Principal(
        ids.new_id(ids.PRINCIPAL), PrincipalKind.USER, tenant.id, f"member@{name}.example", roles
    )
    with platform.database.unit_of_work() as uow:
        uow.principals.add(member, password_hash=None)
        uow.project_members.add(
            ProjectMember(tenant.id, project.id, member.id, MANUAL_MEMBERSHIP, utcnow())
        )
        uow.tenants.update_scheduling(tenant.id, plan=PLAN, allowed_regions=())
        uow.commit()
    actor = Actor(
        member.id, PrincipalKind.USER, tenant.id, roles, member_of=frozenset({project.id})
    )
    return actor, project.id


def _submit(platform: Platform, side: tuple[Actor, str], seed: int) -> Job:
    actor, project_id = side
    request = SubmitRequest(project_id, BELL, SourceFormat.QASM2, DEVICE, SHOTS, seed=seed)
    return platform.jobs.submit(actor, request)


def _device(platform: Platform, scale: float) -> DeviceLoop:
    key = WorkerKey.generate()
    worker = platform.workers.register(None, "bench-device", key.public_jwk_json(), [DEVICE])
    return DeviceLoop(platform, worker, key, scale)


def _flood(platform: Platform, side: tuple[Actor, str], count: int, until: float) -> list[Job]:
    jobs: list[Job] = []
    while len(jobs) < count and time.monotonic() < until:
        jobs.append(_submit(platform, side, len(jobs)))
    return jobs


def _steady(
    platform: Platform, side: tuple[Actor, str], start: float, offset: float, seconds: int
) -> list[Job]:
    jobs: list[Job] = []
    for second in range(seconds):
        time.sleep(max(0.0, start + second + offset - time.monotonic()))
        jobs.append(_submit(platform, side, second))
    return jobs


# -- one run -----------------------------------------------------------------------------
def _run(data_dir: Path, database_url: str | None, args: argparse.Namespace, flood: bool) -> Run:
    platform = _platform(data_dir, database_url)
    try:
        names = ["A", *STEADY] if flood else list(STEADY)
        sides = {name: _member(platform, f"bench-{name.lower()}") for name in names}
        device, stop = _device(platform, args.device_scale), threading.Event()
        with ThreadPoolExecutor(len(sides) + 1) as pool:
            looping = pool.submit(device.run, stop)
            try:
                warm = [_submit(platform, side, 0) for side in sides.values()]
                _await(lambda: device.completed, warm, looping)
                device.reset()
                started, start = utcnow(), time.monotonic()
                work: dict[str, Future[list[Job]]] = {
                    name: pool.submit(_steady, platform, sides[name], start, offset, args.duration)
                    for name, offset in STEADY.items()
                }
                if flood:
                    until = start + args.duration
                    work["A"] = pool.submit(_flood, platform, sides["A"], args.a_jobs, until)
                submitted = {name: future.result() for name, future in work.items()}
                # Until B's and C's jobs are all dispatched; A's backlog may stay queued.
                _await(device.leased_ids, [*submitted["B"], *submitted["C"]], looping)
            finally:
                stop.set()  # also when a submitter failed: the pool waits for the loop
            looping.result()
        return Run(started, submitted, device.leased, device.lease_calls, device.lease_s)
    finally:
        platform.close()


def _await(done: Callable[[], Collection[str]], jobs: Sequence[Job], loop: Future[None]) -> None:
    """Until every job of *jobs* is in *done*; raises the device loop's error if it died."""
    deadline = time.monotonic() + 600
    while not {job.id for job in jobs} <= set(done()):
        if loop.done():
            loop.result()
            raise SystemExit("the device loop stopped early")
        if time.monotonic() > deadline:
            raise SystemExit("jobs were not dispatched within 10 minutes")
        time.sleep(0.02)


def _deep_queue(data_dir: Path, database_url: str | None, args: argparse.Namespace) -> Any:
    """`lease_batch` in a tight loop over ``deep_tenants`` x ``deep_jobs`` queued jobs."""
    platform = _platform(data_dir, database_url)
    try:
        sides = [_member(platform, f"deep-{n}") for n in range(args.deep_tenants)]
        for seed in range(args.deep_jobs):
            for side in sides:
                _submit(platform, side, seed)
        worker = _device(platform, args.device_scale).worker
        timings: list[float] = []
        warm_up = 5
        for _ in range(min(args.decisions + warm_up, args.deep_tenants * args.deep_jobs)):
            started = time.perf_counter()
            grants = platform.dispatch.lease_batch(worker, [DEVICE], 1)
            timings.append(time.perf_counter() - started)
            # Released untimed, so the exclusive device is free for the next decision.
            platform.dispatch.fail(worker, grants[0].lease.id, "released by the benchmark")
    finally:
        platform.close()
    timed = timings[warm_up:] or timings
    return {
        "tenants": args.deep_tenants,
        "queued_jobs": args.deep_tenants * args.deep_jobs,
        "decisions": len(timed),
        "decisions_per_s": round(len(timed) / sum(timed), 1),
        "decision_ms_p50": round(statistics.median(timed) * 1e3, 2),
        "decision_ms_p99": round(percentile(timed, 99) * 1e3, 2),
    }


# -- databases ---------------------------------------------------------------------------
@contextlib.contextmanager
def _database(server_url: str | None) -> Iterator[str | None]:
    """None (SQLite in the run's data directory), or a scratch PostgreSQL database.

    The scratch database is owned by a scratch unprivileged role, so row-level
    security applies as deployed; both are dropped afterwards, and nothing
    else on the server is touched.
    """
    if server_url is None:
        yield None
        return
    server = make_url(server_url)
    admin = server.set(drivername="postgresql").render_as_string(hide_password=False)
    name, password = f"qplane_fairness_{secrets.token_hex(4)}", secrets.token_hex(16)
    role, database = sql.Identifier(name), sql.Identifier(name)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(
            sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD {}").format(
                role, sql.Literal(password)
            )
        )
        connection.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(database, role))
    try:
        url = server.set(
            drivername="postgresql+psycopg", username=name, password=password, database=name
        )
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(database))
            connection.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(role))


def _scratch(server_url: str | None, step: Callable[[Path, str | None], Any]) -> Any:
    """Run *step* on a fresh platform: its own data directory and database."""
    with (
        tempfile.TemporaryDirectory(prefix="qplane-fairness-") as tmp,
        _database(server_url) as url,
    ):
        return step(Path(tmp), url)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--a-jobs", type=int, default=2000, help="jobs the flooding tenant sends")
    parser.add_argument("--duration", type=int, default=60, help="seconds B and C submit for")
    parser.add_argument(
        "--device-scale",
        type=float,
        default=0.0075,
        help="wall seconds the device is held per modelled second (a 2.03 s job: 15 ms)",
    )
    parser.add_argument("--deep-tenants", type=int, default=50)
    parser.add_argument("--deep-jobs", type=int, default=20, help="queued jobs per deep tenant")
    parser.add_argument("--decisions", type=int, default=500, help="timed deep-queue leases")
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server whose user may create (and drop) a scratch role and "
        "database; without it, SQLite in a temporary directory",
    )
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    load_at_start = [round(load, 2) for load in os.getloadavg()]
    contention = _scratch(args.database_url, lambda tmp, url: _run(tmp, url, args, True))
    baseline = _scratch(args.database_url, lambda tmp, url: _run(tmp, url, args, False))
    deep = _scratch(args.database_url, lambda tmp, url: _deep_queue(tmp, url, args))
    modelled_s = contention.leased[0].estimated_s or 0.0
    report = {
        "benchmark": "fairness",
        "machine": {
            "cpus": os.cpu_count(),
            "python": host.python_version(),
            "system": host.platform(),
            "load_average_at_start": load_at_start,
            "load_average_at_end": [round(load, 2) for load in os.getloadavg()],
        },
        "database": "postgresql" if args.database_url else "sqlite",
        "device": DEVICE,
        "plan": PLAN,
        "device_scale": args.device_scale,
        "modelled_job_s": round(modelled_s, 4),
        "held_job_ms": round(modelled_s * args.device_scale * 1e3, 2),
        "a_jobs": args.a_jobs,
        "duration_s": args.duration,
        "jobs": {"contention": job_counts(contention), "baseline": job_counts(baseline)},
        "queue_wait": {name: queue_wait(contention, baseline, name) for name in STEADY},
        "device_time": device_time(contention, args.duration),
        "scheduler": {
            "contention_run": {
                "leases": len(contention.leased),
                "lease_calls": contention.lease_calls,
                "seconds_in_lease_calls": round(contention.lease_s, 3),
                "decisions_per_s": round(len(contention.leased) / contention.lease_s, 1),
            },
            "deep_queue": deep,
        },
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
