"""`qplane demo` as a user runs it: a separate process that must prove isolation and exit 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_demo_proves_isolation_and_exits_zero(tmp_path: Path) -> None:
    # Only what Python needs: no QPLANE_* setting of the caller may change the demo.
    env = {k: v for k, v in os.environ.items() if not k.startswith("QPLANE_")}
    env["QPLANE_CONFIG_DIR"] = str(tmp_path / "config")
    data_dir = tmp_path / "data"
    completed = subprocess.run(
        [sys.executable, "-m", "qplane", "demo", "--workers", "1", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=280,
        check=False,
    )
    out = completed.stdout
    assert completed.returncode == 0, f"{out}\n{completed.stderr}"
    probes = [line.strip() for line in out.splitlines() if " → " in line]
    refusals = [line for line in probes if "refused with 404" in line]
    assert probes == refusals, out
    # five probes, each tenant against the other
    assert len(refusals) == 10, out
    assert all("identical to an object that does not exist" in line for line in refusals)
    assert {line.split(":")[0][2:] for line in refusals} == {"acme → globex", "globex → acme"}
    assert "isolation holds: 10/10 probes refused with 404" in out
    assert "audit logs intact: 3/3" in out
    assert "BROKEN" not in out
    assert (data_dir / "qplane.db").exists()  # it used the data dir it was given


def _children_of(pid: int) -> list[int]:
    """Live (non-zombie) direct children of *pid*, read from /proc."""
    found = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat_file.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"


def _processes_in_group(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is *pgid*, read from /proc."""
    found = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it exited while we looked
        state, group = fields[0], int(fields[2])
        if group == pgid and state != "Z":
            found.append(int(stat_file.parent.name))
    return found


def test_ctrl_c_stops_the_demo_and_its_workers(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QPLANE_")}
    demo = subprocess.Popen(
        [sys.executable, "-m", "qplane", "demo", "--workers", "2", "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    try:
        assert demo.stdout is not None
        for line in demo.stdout:
            if "qplane is up" in line:
                break
        time.sleep(0.5)
        workers = _children_of(demo.pid)
        assert len(workers) >= 2  # the demo's two worker processes
        os.killpg(demo.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        out, _ = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
    assert demo.returncode != 0
    assert "stopping qplane" in out
    deadline = time.monotonic() + 10
    while any(map(_alive, workers)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(map(_alive, workers)), "workers must stop with the demo"
    assert _processes_in_group(demo.pid) == []


def test_demo_refuses_a_data_dir_that_already_holds_a_platform(tmp_path: Path) -> None:
    (tmp_path / "qplane.db").write_bytes(b"")
    completed = subprocess.run(
        [sys.executable, "-m", "qplane", "demo", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode != 0
    assert len(completed.stderr.strip().splitlines()) == 1, completed.stderr
    assert "fresh" in completed.stderr
