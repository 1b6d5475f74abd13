"""Fixtures for the CLI tests: a real platform on loopback, its operator, two tenants, a worker.

The platform is an `EmbeddedPlatform` (port 0, temp data dir) started with
*no* embedded worker. The `worker` fixture registers one through
`qplane worker register`, serving every backend but ``aer_density_matrix``:
a job for that backend stays queued, so cancelling it is deterministic.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from qplane.config import Settings
from qplane.embedded import EmbeddedPlatform, spawn_worker
from tests.cli.cli_harness import (
    BELL_QASM2,
    GHZ_QASM3,
    OPERATOR_EMAIL,
    OPERATOR_PASSWORD,
    SERVED_BACKENDS,
    Cli,
    LivePlatform,
    TenantSession,
    enrol_mfa,
    first_id,
    make_tenant,
)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "config")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePlatform]:
    data_dir = tmp_path_factory.mktemp("qplane-data")
    settings = Settings(
        data_dir=data_dir, host="127.0.0.1", port=0, public_url=None, database_url=None
    )
    embedded = EmbeddedPlatform(settings, workers=0)
    embedded.start()
    try:
        embedded.ensure_operator(OPERATOR_EMAIL, OPERATOR_PASSWORD)
        yield LivePlatform(embedded, data_dir)
    finally:
        embedded.stop()


@pytest.fixture(scope="module")
def operator(live: LivePlatform, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    cli = Cli(tmp_path_factory.mktemp("operator-config"))
    cli.ok(
        "login", "--url", live.url, "--email", OPERATOR_EMAIL, "--password-stdin",
        input=OPERATOR_PASSWORD + "\n",
    )  # fmt: skip
    enrol_mfa(cli)  # operator changes need a recent MFA (step-up)
    return cli


@pytest.fixture(scope="module")
def worker(
    live: LivePlatform, operator: Cli, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A worker registered through the CLI, serving `SERVED_BACKENDS` only; yields its id."""
    where = tmp_path_factory.mktemp("worker")
    key_file, jwk_file = where / "keys" / "worker.pem", where / "worker.jwk"
    jwk_file.write_text(operator.ok("worker", "keygen", str(key_file)).stdout)
    backends = [arg for name in SERVED_BACKENDS for arg in ("--backend", name)]
    registered = operator.ok(
        "worker", "register", "cli-e2e", "--public-jwk-file", str(jwk_file), *backends
    )
    worker_id = first_id(registered.stdout, "wrk")
    process = spawn_worker(live.url, worker_id, key_file, live.embedded.settings)
    try:
        yield worker_id
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def acme(
    live: LivePlatform, operator: Cli, tmp_path_factory: pytest.TempPathFactory
) -> TenantSession:
    return make_tenant("acme", operator, tmp_path_factory.mktemp("acme-config"), live)


@pytest.fixture(scope="module")
def globex(
    live: LivePlatform, operator: Cli, tmp_path_factory: pytest.TempPathFactory
) -> TenantSession:
    return make_tenant("globex", operator, tmp_path_factory.mktemp("globex-config"), live)


@pytest.fixture(scope="module")
def circuits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("circuits")
    (where / "bell.qasm").write_text(BELL_QASM2)
    (where / "ghz.qasm").write_text(GHZ_QASM3)
    return where
