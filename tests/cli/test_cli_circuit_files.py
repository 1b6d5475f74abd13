"""Which OpenQASM dialect `qplane submit` sends: the header decides, then the extension."""

from __future__ import annotations

from pathlib import Path

import pytest

from qplane.cli.circuit_files import detect_format, header_version, read_circuit

QASM2 = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[1];\n'
QASM3 = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[1] q;\n'
HEADERLESS = "qubit[1] q;\nbit[1] c;\nh q[0];\nc = measure q;\n"


@pytest.mark.parametrize(
    ("name", "source", "expected"),
    [
        ("bell.qasm", QASM2, "qasm2"),
        ("bell.qasm", QASM3, "qasm3"),
        ("bell.qasm3", QASM2, "qasm2"),  # the header wins over the extension
        ("bell.qasm2", QASM3, "qasm3"),
        ("bell.qasm2", HEADERLESS, "qasm2"),
        ("bell.qasm3", HEADERLESS, "qasm3"),
        ("bell.qasm", HEADERLESS, "qasm3"),  # only OpenQASM 3 may omit its header
        ("bell.txt", "OPENQASM 3;\nqubit q;\n", "qasm3"),
    ],
)
def test_detect_format(name: str, source: str, expected: str) -> None:
    assert detect_format(Path(name), source) == expected


def test_header_after_comments_is_found() -> None:
    source = "// a Bell pair\n/* written\n   by hand */\n\n  OPENQASM 3.0;\nqubit[2] q;\n"
    assert header_version(source) == 3


def test_header_must_lead_the_program() -> None:
    assert header_version("qubit q;\n// OPENQASM 2.0;\n") is None


def test_read_circuit_detects_or_takes_the_explicit_format(tmp_path: Path) -> None:
    file = tmp_path / "ghz.qasm"
    file.write_text(QASM3)
    assert read_circuit(file, None) == (QASM3, "qasm3")
    assert read_circuit(file, "qasm2") == (QASM3, "qasm2")


def test_read_circuit_missing_file_is_a_one_line_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read") as caught:
        read_circuit(tmp_path / "nope.qasm", None)
    assert "\n" not in str(caught.value)


def test_read_circuit_refuses_an_unknown_format(tmp_path: Path) -> None:
    file = tmp_path / "c.qasm"
    file.write_text(QASM2)
    with pytest.raises(ValueError, match="unknown format"):
        read_circuit(file, "quil")


def test_read_circuit_refuses_binary(tmp_path: Path) -> None:
    file = tmp_path / "c.qasm"
    file.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ValueError, match="not UTF-8"):
        read_circuit(file, None)
