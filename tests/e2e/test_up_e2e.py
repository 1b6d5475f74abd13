"""`qplane up` as a new user runs it: starts, prints a one-time login, serves, cleans up."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from qplane.sdk import QplaneClient

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _children_of(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            children.append(int(stat.parent.name))
    return children


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _start_up(data_dir: Path) -> tuple[subprocess.Popen[str], str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QPLANE_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "qplane", "up", "--data-dir", str(data_dir), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    url = password = ""
    for line in proc.stdout:
        if match := re.search(r"qplane is up\S* at (http://\S+)", line):
            url = match.group(1)
        if match := re.search(r"password:\s+(\S+)", line):
            password = match.group(1)
        if "Ctrl-C" in line:
            break
    return proc, url, password


def test_up_prints_a_working_login_once_and_stops_cleanly(tmp_path: Path) -> None:
    proc, url, password = _start_up(tmp_path / "data")
    try:
        assert url, "qplane up must say where it listens"
        assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
        with QplaneClient(url) as client:
            client.login("admin@qplane.local", password)
            assert client.whoami()["kind"] == "operator"
        workers = _children_of(proc.pid)
        assert len(workers) == 1
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert not any(map(_alive, workers))
    again, _, second_password = _start_up(tmp_path / "data")
    again.send_signal(signal.SIGINT)
    again.wait(timeout=30)
    assert second_password == "", "the operator password is shown only on first start"
    assert (tmp_path / "data" / "keys" / "root.key").stat().st_mode & 0o077 == 0


def test_workers_do_not_outlive_a_killed_control_plane(tmp_path: Path) -> None:
    proc, _, _ = _start_up(tmp_path / "data")
    workers = _children_of(proc.pid)
    assert workers
    proc.kill()
    proc.wait(timeout=10)
    deadline = time.monotonic() + 15
    while any(map(_alive, workers)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(map(_alive, workers)), "orphaned workers must exit"
