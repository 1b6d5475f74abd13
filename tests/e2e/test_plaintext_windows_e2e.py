"""Plaintext windows: a job's circuit and result exist in plaintext only in memory.

A job's circuit carries a marker (in a comment, a gate name and its register
names) and its result carries another (a 60-bit outcome prepared
deterministically, so it is the only key of the counts). After the run the
API still returns both markers, so the search below cannot pass vacuously,
and neither marker, in any encoding of `_encodings`, is found in:

* the database: every row of every table read back through SQL (for
  PostgreSQL as the superuser, whom row-level security hides nothing from);
  for SQLite also the raw bytes of the database file with its ``-wal`` and
  ``-shm``, while the platform runs and again after it stopped;
* every file under the test's directory (the data directory, which holds the
  database and keys, and the worker's HOME and TMPDIR), and every file
  created in the system's temporary directories or in ``/`` (a sandboxed
  child's working directory) during the run;
* everything logged: each Python log record at DEBUG (uvicorn's access log
  switched on), and the stdout and stderr of the worker processes, which
  inherit this process's file descriptors;
* what the API shows besides the circuit and result themselves: the job's
  execution log, the job's metadata and the tenant's audit entries.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Final

import pytest
from sqlalchemy import MetaData, create_engine, make_url, select

from qplane.sdk import QplaneClient
from tests.conftest import admin_url
from tests.e2e.conftest import Starter, operator_client, tenant_client

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

#: Wide enough that the outcome is unique; the matrix-product-state backend
#: simulates it cheaply (it is a product state), where a statevector could not.
QUBITS: Final = 60
SHOTS: Final = 7
_CHUNK: Final = 4 * 1024 * 1024
_SYSTEM_TEMP_DIRS: Final = ("/tmp", "/var/tmp", "/dev/shm")

Needles = Mapping[str, bytes]


def _encodings(marker: str) -> dict[str, bytes]:
    """*marker* as stored text might hold it: plain, UTF-16, hex and base64 at each alignment."""
    raw = marker.encode("ascii")
    forms = {
        "utf-8": raw,
        "utf-16-le": marker.encode("utf-16-le"),
        "utf-16-be": marker.encode("utf-16-be"),
        "hex": raw.hex().encode(),
        "HEX": raw.hex().upper().encode(),
    }
    # Inside a longer base64 text the marker starts at any offset modulo 3;
    # its whole 3-byte groups then encode the same way whatever surrounds them.
    for offset in range(3):
        whole = raw[offset:][: (len(raw) - offset) // 3 * 3]
        forms[f"base64@{offset}"] = base64.b64encode(whole)
        forms[f"base64url@{offset}"] = base64.urlsafe_b64encode(whole)
    return forms


def _outcome_encodings(outcome: str) -> dict[str, bytes]:
    """The result marker: its bitstring's encodings, reversed bit order, and its number."""
    value = int(outcome, 2)
    return {
        **_encodings(outcome),
        "reversed": outcome[::-1].encode(),
        "decimal": str(value).encode(),
        "hex-number": f"{value:x}".encode(),
    }


def _marked_circuit(marker: str, bits: list[int]) -> str:
    """OpenQASM 2 that flips qubit *i* where ``bits[i]`` is 1, with *marker* in every name."""
    flips = [f"{marker}_flip {marker}_q[{i}];" for i, bit in enumerate(bits) if bit]
    return "\n".join(
        [
            "OPENQASM 2.0;",
            'include "qelib1.inc";',
            f"// {marker}: the circuit marker, never to be found at rest or in a log",
            f"gate {marker}_flip a {{ x a; }}",
            f"qreg {marker}_q[{len(bits)}];",
            f"creg {marker}_c[{len(bits)}];",
            *flips,
            f"measure {marker}_q -> {marker}_c;",
        ]
    )


def _random_bits(count: int) -> list[int]:
    """Random bits with at least one 0 and the last bit 1.

    The last bit leads the outcome, so the outcome's number has all *count*
    bits: too long to turn up by chance in hex or decimal text.
    """
    while True:
        bits = [*(secrets.randbelow(2) for _ in range(count - 1)), 1]
        if 0 in bits:
            return bits


def _found(needles: Needles, haystack: bytes) -> list[str]:
    return [name for name, needle in needles.items() if needle in haystack]


def _found_in_file(needles: Needles, path: Path) -> list[str]:
    """The needles in *path*'s bytes, read in chunks that overlap by the longest needle."""
    overlap = max(len(needle) for needle in needles.values())
    found: set[str] = set()
    tail = b""
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                window = tail + chunk
                found.update(_found(needles, window))
                tail = window[-overlap:]
    except OSError:  # gone, or not readable as a file (another process's socket, say)
        return []
    return sorted(found)


def _files(root: Path, *, since: float | None = None, recursive: bool = True) -> Iterator[Path]:
    """Regular files under *root* (not following links), changed at or after *since* if given."""
    for directory, dirnames, filenames in os.walk(root):
        if not recursive:
            dirnames.clear()
        for name in filenames:
            path = Path(directory, name)
            try:
                info = path.lstat()
            except OSError:
                continue
            if not path.is_file() or path.is_symlink():
                continue
            if since is None or max(info.st_mtime, info.st_ctime) >= since:
                yield path


def _database_rows(database_url: str) -> bytes:
    """Every value of every table, through SQL; for PostgreSQL as the superuser (no RLS)."""
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        url = make_url(admin_url(database_url)).set(drivername="postgresql+psycopg")
    engine = create_engine(url)
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        assert "artifacts" in metadata.tables, "the dump must include the sealed artifacts"
        values: list[bytes] = []
        with engine.connect() as connection:
            for table in metadata.sorted_tables:
                for row in connection.execute(select(table)):
                    values += [
                        bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode()
                        for v in row
                    ]
        return b"\n".join(values)
    finally:
        engine.dispose()


class _LogTap(logging.Handler):
    """Keeps every record it sees, formatted with its traceback; `watch` hooks it up."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(threadName)s %(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []
        self._saved: list[tuple[logging.Logger, int, bool]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def watch(self, name: str, *, attach: bool = True) -> None:
        """Log *name* at DEBUG (and, with *attach*, to this tap) until `restore`."""
        logger = logging.getLogger(name)
        self._saved.append((logger, logger.level, attach))
        logger.setLevel(logging.DEBUG)
        if attach:
            logger.addHandler(self)

    def restore(self) -> None:
        for logger, level, attached in reversed(self._saved):
            logger.setLevel(level)
            if attached:
                logger.removeHandler(self)
        self._saved.clear()


@contextmanager
def _tapped_logs() -> Iterator[_LogTap]:
    tap = _LogTap()
    tap.watch("")  # the root: every logger that propagates, qplane's included
    tap.watch("qplane", attach=False)
    try:
        yield tap
    finally:
        tap.restore()


def _watch_uvicorn(tap: _LogTap) -> None:
    """After the server started (its config resets uvicorn's loggers): its logs, access included.

    uvicorn's loggers do not propagate to the root. The access log is on for
    every connection opened while ``uvicorn.access`` has a handler.
    """
    tap.watch("uvicorn")
    tap.watch("uvicorn.access")
    tap.watch("uvicorn.error", attach=False)
    tap.watch("uvicorn.asgi", attach=False)


def _audit_text(client: QplaneClient) -> str:
    pages: list[str] = []
    cursor: str | None = None
    while True:
        page = client.audit_entries(limit=200, **({"cursor": cursor} if cursor else {}))
        pages.append(str(page["items"]))
        cursor = page.get("next_cursor")
        if not cursor:
            return "\n".join(pages)


def test_circuit_and_result_plaintext_never_reach_disk_logs_or_audit(
    start_platform: Starter,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    circuit_marker = f"qplanemarker{secrets.token_hex(12)}"
    bits = _random_bits(QUBITS)
    source = _marked_circuit(circuit_marker, bits)
    outcome = "".join(str(bit) for bit in reversed(bits))  # Qiskit writes clbit 0 last
    needles = {
        **{f"circuit marker as {k}": v for k, v in _encodings(circuit_marker).items()},
        **{f"result marker as {k}": v for k, v in _outcome_encodings(outcome).items()},
    }
    # Job metadata is stored in the clear: it shows the database search sees the rows.
    probe_tag = f"probe-{secrets.token_hex(8)}"
    data_dir = tmp_path / "data"
    # The worker inherits HOME and TMPDIR: give it fresh ones, searched in full below.
    temp_dirs = {Path(tempfile.gettempdir()), *map(Path, _SYSTEM_TEMP_DIRS)}
    for variable, name in (("HOME", "worker-home"), ("TMPDIR", "worker-tmp")):
        (tmp_path / name).mkdir()
        monkeypatch.setenv(variable, str(tmp_path / name))
    started = time.time() - 1  # file times may be coarser than this clock
    leaks: list[str] = []

    def search(place: str, haystack: bytes) -> None:
        leaks.extend(f"{place}: {name}" for name in _found(needles, haystack))

    def search_files(root: Path, *, since: float | None = None, recursive: bool = True) -> None:
        for path in _files(root, since=since, recursive=recursive):
            leaks.extend(f"file {path}: {name}" for name in _found_in_file(needles, path))

    with _tapped_logs() as tap:
        embedded = start_platform(workers=1)
        _watch_uvicorn(tap)
        with operator_client(embedded) as operator:
            tenant, project = tenant_client(operator, embedded.url, "acme")
        with tenant:
            job = tenant.submit(project, source, "aer_mps", SHOTS, seed=11, tags=[probe_tag])
            job_id = str(job["id"])
            finished = tenant.wait(job_id, timeout=120)
            assert finished["state"] == "verified", finished
            # Both markers are there for whoever may read them, so the search means something.
            assert tenant.circuit(job_id)["source"] == source
            assert tenant.result(job_id)["counts"] == {outcome: SHOTS}
            execution_log = tenant.log(job_id)
            assert execution_log.strip(), "the job's execution log is empty"
            search("the job's execution log", execution_log.encode())
            search("the job's metadata", str(tenant.job(job_id)).encode())
            search("the project's job list", str(list(tenant.iter_jobs(project))).encode())
            audit = _audit_text(tenant)
            assert job_id in audit, "the audit search must see the job's entries"
            search("the tenant's audit entries", audit.encode())

        rows = _database_rows(database_url)
        assert probe_tag.encode() in rows, "the database search must see the job's row"
        search("the database's rows, read through SQL", rows)
        search_files(tmp_path)  # the data dir with the live SQLite file, -wal and -shm
        embedded.stop()  # SQLite folds its write-ahead log into the file
        search_files(tmp_path)
        if make_url(database_url).get_backend_name() == "sqlite":
            raw = b"".join(p.read_bytes() for p in data_dir.glob("qplane.db*"))
            assert probe_tag.encode() in raw, "the file search must see the job's row"

        assert any(f"/v1/jobs/{job_id}/circuit" in line for line in tap.lines), (
            "the access log was not captured"
        )
        search("the Python log records", "\n".join(tap.lines).encode())
    workers_output = capfd.readouterr()
    search("the processes' stdout", workers_output.out.encode())
    search("the processes' stderr", workers_output.err.encode())
    for folder in temp_dirs:
        search_files(folder, since=started)
    search_files(Path("/"), since=started, recursive=False)

    assert leaks == [], "plaintext found outside memory:\n" + "\n".join(dict.fromkeys(leaks))
