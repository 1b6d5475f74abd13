"""`qplane usage`, `quota`, `queue` and `submit --priority` against a live platform."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.cli.cli_harness import (
    UNSERVED_BACKEND,
    Cli,
    TenantSession,
    assert_one_line_error,
    enrol_mfa,
    first_id,
)

pytestmark = pytest.mark.e2e

_DAY = r"\d{4}-\d\d-\d\d 00:00:00Z"
_MONTH_START = r"\d{4}-\d\d-01 00:00:00Z"


def test_a_tenant_admin_reads_the_quotas_an_operator_set_with_usage_and_resets(
    operator: Cli, acme: TenantSession, circuits: Path
) -> None:
    operator.ok(
        "quota", "set", "acme", "--plan", "premium", "--running", "3",
        "--shots-per-day", "5000", "--qpu-seconds", "120",
    )  # fmt: skip
    refused = acme.admin("quota", "set", acme.tenant_id, "--running", "100")
    assert "quota.manage is not allowed" in assert_one_line_error(refused)
    enrol_mfa(acme.admin)  # sharing quotas out to projects is privileged
    acme.admin.ok("quota", "project", "research", "--queued", "5", "--region", "local")
    submitted = acme.admin.ok(
        "submit", str(circuits / "bell.qasm"), "--backend", UNSERVED_BACKEND,
        "--project", "research", "--shots", "100", "--priority", "7", "--time-limit", "60",
    )  # fmt: skip
    job = first_id(submitted.stdout, "job")

    shown = acme.admin.ok("usage").stdout

    assert "premium (fair-share weight 8)" in shown
    assert re.search(r"running jobs\s+0\s+3\s+-", shown), shown
    assert re.search(rf"shots today\s+100\s+5000\s+{_DAY}", shown), shown
    assert re.search(rf"QPU seconds this month\s+0\s+120\s+{_MONTH_START}", shown), shown
    assert re.search(r"simulator seconds this month\s+\S+\s+unlimited", shown), shown
    assert "project research" in shown
    assert "regions: local" in shown
    assert re.search(r"queued jobs\s+1\s+5\s+-", shown), shown
    position = acme.admin.ok("queue", job).stdout
    assert re.search(r"position\s+1 among your queued jobs", position), position


def test_times_without_an_offset_are_utc_and_bad_ones_are_refused() -> None:
    from qplane.cli.scheduling_commands import parse_time

    assert parse_time("2030-01-02T03:04:05").isoformat() == "2030-01-02T03:04:05+00:00"
    assert parse_time("2030-01-02T03:04:05+02:00").utcoffset() is not None
    with pytest.raises(ValueError, match="not an RFC 3339 time"):
        parse_time("next tuesday")


def test_a_device_calendar_shows_anonymous_reserved_time_and_escapes_api_text() -> None:
    from rich.console import Console

    from qplane.cli.scheduling_views import calendar_view

    calendar = {
        "backend": "emu_heavyhex_27",
        "unavailable": [
            {
                "kind": "reserved",
                "starts_at": "2030-01-02T00:00:00Z",
                "ends_at": "2030-01-02T01:00:00Z",
            }
        ],
        "reservations": [
            {
                "id": "rsv_" + "0" * 32,
                "backend": "emu_heavyhex_27",
                "starts_at": "2030-01-03T00:00:00Z",
                "ends_at": "2030-01-03T02:00:00Z",
                "reason": "benchmark\x1b[2J",
            }
        ],
        "calibration_id": None,
        "calibrated_at": None,
        "calibration_summary": {},
    }
    console = Console(width=160, record=True)
    console.print(calendar_view(calendar))
    shown = console.export_text()
    assert re.search(r"reserved\s+2030-01-02 00:00:00Z\s+2030-01-02 01:00:00Z", shown), shown
    assert "your reservations" in shown
    assert "\x1b" not in shown
    assert "benchmark\\x1b[2J" in shown
