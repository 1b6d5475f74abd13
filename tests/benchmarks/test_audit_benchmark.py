"""`benchmarks/audit.py --quick` runs on SQLite and reports every figure issue 6 asks for.

Only the report's shape and the proofs' node reads are checked, never a
timing: the numbers belong in the README, measured on a quiet machine.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "audit.py"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--databases", "sqlite"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        cwd=tmp_path_factory.mktemp("audit-bench"),
    )
    assert done.returncode == 0, done.stderr
    parsed: dict[str, Any] = json.loads(done.stdout)
    return parsed


def test_the_report_names_the_machine_and_measures_only_the_asked_database(report) -> None:
    assert report["benchmark"] == "audit"
    assert report["mode"] == "quick"
    assert {"cpus", "python", "system", "load_average_at_start"} <= set(report["machine"])
    assert list(report["databases"]) == ["sqlite"]


def test_appends_are_counted_per_transaction_alone_in_a_job_submission_and_concurrently(
    report,
) -> None:
    appends = report["databases"]["sqlite"]["appends"]
    assert appends["one_entry_per_transaction"]["entries_per_transaction"] == 1
    assert appends["one_entry_per_transaction"]["appends_per_s"] > 0
    assert appends["job_submit_with_audit"]["entries_per_transaction"] == 3
    assert appends["job_submit_without_audit"]["transactions_per_s"] > 0
    assert appends["concurrent"]["different_logs_appends_per_s"] > 0
    assert appends["concurrent"]["same_log_appends_per_s"] > 0


def test_inclusion_proofs_read_a_logarithmic_number_of_stored_nodes(report) -> None:
    sqlite = report["databases"]["sqlite"]
    proofs = sqlite["inclusion_proofs"]
    assert [proof["entries"] for proof in proofs] == [1000, 10_000]
    for proof in proofs:
        # popcount(n) reads to open the tree, at most 2⌈log2 n⌉ for the path.
        bound = proof["entries"].bit_count() + 2 * math.ceil(math.log2(proof["entries"]))
        assert 0 < proof["node_reads_max"] <= bound
        assert proof["proof_us_mean"] > 0
    growth = sqlite["inclusion_proof_growth"]
    assert (growth["from_entries"], growth["to_entries"]) == (1000, 10_000)
    assert growth["node_reads_ratio"] < growth["entries_ratio"]


def test_the_whole_bulk_loaded_log_verifies_against_its_signed_checkpoints(report) -> None:
    verification = report["databases"]["sqlite"]["verification"]
    assert verification["entries"] == 10_000
    assert verification["signed_checkpoints"] == 4
    assert verification["s_per_100k_entries"] > 0
