"""qplane with TLS on loopback: HTTPS for clients, mutual TLS for workers, refused handshakes.

Everything here is real: the local CA's files, uvicorn's TLS listeners, the
worker process with its own client certificate, and OpenSSL on both ends.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from qplane.config import Settings
from qplane.crypto.local_ca import LocalCA
from qplane.embedded import EmbeddedPlatform
from qplane.sdk import QplaneClient
from tests.e2e.conftest import OPERATOR_EMAIL, OPERATOR_PASSWORD, operator_client, tenant_client

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BELL = """OPENQASM 2.0;
include "qelib1.inc";
qreg q[2];
creg c[2];
h q[0];
cx q[0], q[1];
measure q -> c;
"""
_REQUEST = b"POST /internal/v1/token HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}"


@pytest.fixture(scope="module")
def tls_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPlatform]:
    """One TLS platform (SQLite, one worker) for the module: starting one costs seconds."""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("tls-data"),
        database_url=None,
        host="127.0.0.1",
        port=0,
        public_url=None,
        sweep_interval_s=0.2,
        tls=True,
    )
    embedded = EmbeddedPlatform(settings, workers=1)
    embedded.start()
    try:
        embedded.ensure_operator(OPERATOR_EMAIL, OPERATOR_PASSWORD)
        yield embedded
    finally:
        embedded.stop()


@pytest.fixture(autouse=True)
def _no_ambient_ca(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("QPLANE_CA_FILE", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)


def _ca(embedded: EmbeddedPlatform) -> Path:
    assert embedded.ca_file is not None
    return embedded.ca_file


def _internal_address(embedded: EmbeddedPlatform) -> tuple[str, int]:
    parts = urlsplit(embedded.internal_url)
    assert parts.scheme == "https"
    assert parts.hostname is not None
    assert parts.port is not None
    return parts.hostname, parts.port


def _context(embedded: EmbeddedPlatform, client_cert: Path | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=_ca(embedded))
    if client_cert is not None:
        context.load_cert_chain(client_cert)
    return context


def _internal_answer(embedded: EmbeddedPlatform, client_cert: Path) -> bytes:
    """The start of the internal listener's answer to one raw request as *client_cert*."""
    host, port = _internal_address(embedded)
    context = _context(embedded, client_cert)
    with (
        socket.create_connection((host, port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        return _ask(tls)


def _assert_refused(
    embedded: EmbeddedPlatform, client_cert: Path | None, version: ssl.TLSVersion
) -> None:
    """The internal listener ends the connection in TLS, before any HTTP is exchanged.

    In TLS 1.2 the server judges the client's certificate before its own
    Finished, so the handshake fails. In TLS 1.3 the client's side of the
    handshake is complete first; the server then drops the connection, and
    the client's first read fails without a byte of HTTP.
    """
    context = _context(embedded, client_cert)
    context.minimum_version = context.maximum_version = version
    host, port = _internal_address(embedded)
    with (
        socket.create_connection((host, port), timeout=10) as raw,
        context.wrap_socket(
            raw,
            server_hostname="localhost",
            do_handshake_on_connect=False,
            suppress_ragged_eofs=False,
        ) as tls,
    ):
        if version is ssl.TLSVersion.TLSv1_2:
            with pytest.raises(ssl.SSLError):
                tls.do_handshake()
            return
        tls.do_handshake()
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            _ask(tls)


def _ask(tls: ssl.SSLSocket) -> bytes:
    tls.sendall(_REQUEST)
    return tls.recv(64)


VERSIONS = pytest.mark.parametrize(
    "version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3], ids=["tls1.2", "tls1.3"]
)


def test_the_platform_speaks_https_and_says_which_ca_to_trust(
    tls_platform: EmbeddedPlatform,
) -> None:
    assert tls_platform.url.startswith("https://127.0.0.1:")
    assert tls_platform.internal_url.startswith("https://127.0.0.1:")
    assert tls_platform.internal_url != tls_platform.url
    assert _ca(tls_platform) == tls_platform.settings.data_dir / "tls" / "ca.pem"
    assert (tls_platform.settings.data_dir / "tls" / "ca-key.pem").stat().st_mode & 0o077 == 0


def test_the_sdk_refuses_an_untrusted_server_and_logs_in_with_the_ca_file(
    tls_platform: EmbeddedPlatform,
) -> None:
    with QplaneClient(tls_platform.url) as untrusting, pytest.raises(httpx.ConnectError) as refused:
        untrusting.login(OPERATOR_EMAIL, OPERATOR_PASSWORD)
    assert "CERTIFICATE_VERIFY_FAILED" in str(refused.value)
    with QplaneClient(tls_platform.url, ca_file=_ca(tls_platform)) as client:
        client.login(OPERATOR_EMAIL, OPERATOR_PASSWORD)
        assert client.whoami()["kind"] == "operator"


def test_qplane_ca_file_in_the_environment_is_trusted(
    tls_platform: EmbeddedPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QPLANE_CA_FILE", str(_ca(tls_platform)))
    with QplaneClient(tls_platform.url) as client:
        client.login(OPERATOR_EMAIL, OPERATOR_PASSWORD)


def test_a_job_runs_through_a_worker_over_mutual_tls(
    tls_platform: EmbeddedPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QPLANE_CA_FILE", str(_ca(tls_platform)))
    with operator_client(tls_platform) as operator:
        client, project = tenant_client(operator, tls_platform.url, "acme")
    with client:
        job = client.submit(project, BELL, "aer_statevector", 200, seed=7)
        final = client.wait(job["id"], timeout=120)
        assert final["state"] == "verified", final
        assert sum(client.result(job["id"])["counts"].values()) == 200
        running = client.audit_entries(target=job["id"], action="job.running")["items"]
    assert running[0]["actor_id"].startswith("wrk_")


@VERSIONS
def test_the_internal_listener_refuses_a_client_without_a_certificate(
    tls_platform: EmbeddedPlatform, version: ssl.TLSVersion
) -> None:
    _assert_refused(tls_platform, None, version)


@VERSIONS
def test_the_internal_listener_refuses_a_certificate_from_another_ca(
    tls_platform: EmbeddedPlatform, tmp_path: Path, version: ssl.TLSVersion
) -> None:
    assert tls_platform.platform is not None
    worker = tls_platform.platform.workers.by_name("embedded-1")
    assert worker is not None
    impostor = LocalCA.load_or_create(tmp_path / "other-ca")
    _assert_refused(tls_platform, impostor.worker_credentials("embedded-1", worker.id), version)


@VERSIONS
def test_the_server_certificate_cannot_pose_as_a_worker(
    tls_platform: EmbeddedPlatform, version: ssl.TLSVersion
) -> None:
    assert tls_platform.local_ca is not None  # its certificate is for serverAuth only
    _assert_refused(tls_platform, tls_platform.local_ca.server_file, version)


def test_a_worker_certificate_reaches_the_internal_api(tls_platform: EmbeddedPlatform) -> None:
    assert tls_platform.local_ca is not None
    answer = _internal_answer(tls_platform, tls_platform.local_ca.worker_file("embedded-1"))
    # Past the handshake, the app judges the request itself (here: no valid assertion).
    assert re.match(rb"HTTP/1\.1 4\d\d ", answer), answer


def test_each_listener_serves_only_its_own_api(tls_platform: EmbeddedPlatform) -> None:
    assert tls_platform.local_ca is not None
    trust = ssl.create_default_context(cafile=_ca(tls_platform))
    with httpx.Client(verify=trust) as public:
        assert public.get(f"{tls_platform.url}/healthz").status_code == 200
        assert public.post(f"{tls_platform.url}/internal/v1/token", json={}).status_code == 404
    as_worker = ssl.create_default_context(cafile=_ca(tls_platform))
    as_worker.load_cert_chain(tls_platform.local_ca.worker_file("embedded-1"))
    with httpx.Client(verify=as_worker) as internal:
        assert internal.get(f"{tls_platform.internal_url}/healthz").status_code == 404
        assert internal.get(f"{tls_platform.internal_url}/v1/me").status_code == 404


def _start_up(data_dir: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QPLANE_")}
    command = [sys.executable, "-m", "qplane", "up", "--tls", "--data-dir", str(data_dir)]
    proc = subprocess.Popen(
        [*command, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    said: dict[str, str] = {}
    patterns = {
        "url": r"qplane is up\S* at (https://\S+)",
        "ca": r"TLS CA certificate \(clients trust it\): (\S+)",
        "internal": r"internal API \(mutual TLS\): (https://\S+)",
        "password": r"password:\s+(\S+)",
    }
    for line in proc.stdout:
        for name, pattern in patterns.items():
            if match := re.search(pattern, line):
                said[name] = match.group(1)
        if "Ctrl-C" in line:
            break
    return proc, said


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)


def test_qplane_up_tls_prints_the_ca_and_reuses_it_on_restart(tmp_path: Path) -> None:
    proc, said = _start_up(tmp_path / "data")
    try:
        assert said.get("url", "").startswith("https://"), said
        assert said["ca"] == str(tmp_path / "data" / "tls" / "ca.pem")
        with QplaneClient(said["url"], ca_file=said["ca"]) as client:
            client.login("admin@qplane.local", said["password"])
    finally:
        _stop(proc)
    ca_pem = Path(said["ca"]).read_bytes()
    server_pem = (tmp_path / "data" / "tls" / "server.pem").read_bytes()
    again, said_again = _start_up(tmp_path / "data")
    try:
        assert said_again["ca"] == said["ca"]
        trust = ssl.create_default_context(cafile=said["ca"])
        assert httpx.get(f"{said_again['url']}/healthz", verify=trust).status_code == 200
    finally:
        _stop(again)
    assert Path(said["ca"]).read_bytes() == ca_pem, "the CA survives restarts"
    assert (tmp_path / "data" / "tls" / "server.pem").read_bytes() == server_pem
