"""What `qplane result`, `qplane job` and `qplane jobs` show, rendered to plain text."""

from __future__ import annotations

import io

import pytest
from rich.console import Console, RenderableType

from qplane.cli import render

COUNTS = {"00": 480, "11": 512, "01": 20, "10": 12}


def _text(renderable: RenderableType, width: int = 120) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None, highlight=False).print(renderable)
    return buffer.getvalue()


def test_counts_are_ranked_most_frequent_first_ties_by_bitstring() -> None:
    counts = {"10": 5, "01": 5, "11": 9, "00": 1}
    assert render.ranked_counts(counts) == [("11", 9), ("01", 5), ("10", 5), ("00", 1)]


def test_counts_table_rows_are_sorted_by_count_descending() -> None:
    text = _text(render.counts_table(COUNTS))
    positions = [text.index(f" {outcome} ") for outcome in ("11", "00", "01", "10")]
    assert positions == sorted(positions)
    assert "50.0%" in text  # 512 of 1024


def test_bars_are_proportional_to_counts_and_the_peak_fills_the_width() -> None:
    rows = render.bar_rows(COUNTS, width=40)
    assert [r.outcome for r in rows] == ["11", "00", "01", "10"]
    assert rows[0].cells == 40
    for row in rows:
        assert row.cells == pytest.approx(40 * row.count / 512, abs=1)


def test_a_rare_outcome_still_gets_a_visible_bar() -> None:
    rows = render.bar_rows({"0": 100_000, "1": 1}, width=20)
    assert [r.cells for r in rows] == [20, 1]


def test_chart_draws_bars_of_the_computed_lengths() -> None:
    lines = _text(render.counts_chart(COUNTS, width=40)).splitlines()
    drawn = {line.split()[0]: line.count(render.BAR_CHAR) for line in lines if line.strip()}
    expected = {r.outcome: r.cells for r in render.bar_rows(COUNTS, width=40)}
    assert drawn == expected


def test_only_the_top_outcomes_are_shown_with_the_rest_summed() -> None:
    counts = {format(i, "04b"): 100 - i for i in range(16)}
    table = _text(render.counts_table(counts, top=3))
    assert "0000" in table
    assert "0011" not in table
    assert "… 13 more" in table
    assert str(sum(100 - i for i in range(3, 16))) in table
    assert len(render.bar_rows(counts, top=3)) == 3


def test_empty_counts_render_without_bars() -> None:
    assert render.bar_rows({}) == []
    assert render.BAR_CHAR not in _text(render.counts_chart({}))


def test_result_view_shows_shots_seed_backend_and_execution_time() -> None:
    result = {
        "job_id": "job_" + "a" * 32,
        "backend": "aer_statevector",
        "shots": 1024,
        "seed": 42,
        "counts": COUNTS,
        "execution_time_s": 0.01234,
        "metadata": {},
    }
    text = _text(render.result_view(result))
    for expected in ("job_" + "a" * 32, "aer_statevector", "1024", "42", "0.012 s"):
        assert expected in text
    assert render.BAR_CHAR in text


def test_history_shows_each_transition_with_utc_time_and_offset() -> None:
    job = {
        "id": "job_" + "b" * 32,
        "state": "verified",
        "project_id": "prj_" + "c" * 32,
        "owner_id": "usr_" + "d" * 32,
        "backend": "aer_mps",
        "shots": 100,
        "format": "qasm3",
        "seed": 7,
        "qubits": 3,
        "depth": 4,
        "tags": ["demo"],
        "attempts": 1,
        "reason": None,
        "history": [
            {"state": "submitted", "at": "2025-03-01T10:00:00+00:00", "reason": None},
            {"state": "queued", "at": "2025-03-01T10:00:00.250000+00:00", "reason": None},
            {"state": "verified", "at": "2025-03-01T11:00:01.5+01:00", "reason": None},
        ],
    }
    text = _text(render.job_view(job))
    assert "2025-03-01 10:00:00.000Z" in text
    assert "+0.250s" in text
    assert "2025-03-01 10:00:01.500Z" in text  # converted to UTC
    assert "+1.500s" in text
    assert text.index("submitted") < text.index("queued") < text.rindex("verified")


def test_format_time_treats_naive_stamps_as_utc() -> None:
    assert render.format_time("2025-01-31T12:00:00.123456") == "2025-01-31 12:00:00.123Z"
    assert render.format_time(None) == ""


def test_jobs_table_keeps_full_job_ids_on_a_narrow_terminal() -> None:
    job_id = "job_" + "e" * 32
    job = {
        "id": job_id,
        "state": "running",
        "backend": "aer_density_matrix",
        "shots": 1024,
        "tags": ["a", "b"],
        "created_at": "2025-03-01T10:00:00+00:00",
    }
    assert job_id in _text(render.jobs_table([job]), width=80)


def test_text_from_the_api_is_shown_literally_never_as_markup() -> None:
    entry = {
        "index": 1,
        "at": "2025-03-01T10:00:00+00:00",
        "action": "job.rejected",
        "outcome": "denied",
        "actor_id": None,
        "target": None,
        "detail": "unknown backend '[bold]x[/bold]' \x1b[31mred",
    }
    text = _text(render.audit_table([entry]), width=200)
    assert "[bold]x[/bold]" in text
    assert "\x1b" not in text  # an escape sequence never reaches the terminal …
    assert "\\x1b[31mred" in text  # … it is shown, made visible
