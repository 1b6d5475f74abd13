"""The worker's execution log: one parseable line per event, bounded in size."""

from __future__ import annotations

import re
import shlex

from qplane.domain.jobs import MAX_EXECUTION_LOG_BYTES
from qplane.worker.execution_log import ExecutionLog


def test_each_event_is_one_line_with_a_utc_time_and_its_fields() -> None:
    log = ExecutionLog()
    log.note("leased", backend="aer_statevector", shots=100)
    log.note("completed", execution_time_s=0.25, method=None)

    lines = log.text().splitlines()

    assert len(lines) == 2
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z leased backend=aer_statevector shots=100",
        lines[0],
    )
    assert lines[1].endswith(' completed execution_time_s=0.25 method=""')


def test_a_value_cannot_forge_a_line_or_a_field() -> None:
    log = ExecutionLog()
    log.note("failed", detail='out of memory\n2026-01-01T00:00:00.000Z completed x="1"')

    lines = log.text().splitlines()

    assert len(lines) == 1
    fields = shlex.split(lines[0])[2:]
    assert len(fields) == 1
    assert fields[0].startswith("detail=out of memory")


def test_the_log_never_exceeds_its_limit_and_says_it_was_cut() -> None:
    log = ExecutionLog()
    for n in range(10_000):
        log.note("heartbeat", n=n)

    text = log.text()

    assert len(text.encode()) <= MAX_EXECUTION_LOG_BYTES
    assert text.splitlines()[-1] == "… log truncated"
    assert " heartbeat n=0" in text.splitlines()[0]


def test_an_empty_log_is_empty() -> None:
    assert ExecutionLog().text() == ""
