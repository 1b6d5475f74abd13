"""Submission validation: each refusal is typed, ordered, and names its limit."""

from __future__ import annotations

import time

import pytest

from qplane.backends.catalogue import default_catalogue
from qplane.broker.validation import (
    MAX_CLBITS,
    MAX_QUOTED_CHARS,
    parse_circuit,
    validate_submission,
)
from qplane.domain.backends import BackendInfo, BackendKind, BackendLimits
from qplane.domain.errors import PayloadTooLarge, ValidationFailed
from qplane.domain.jobs import SourceFormat

QASM2 = SourceFormat.QASM2
QASM3 = SourceFormat.QASM3
PAYLOAD = 64 * 1024
BELL2 = """OPENQASM 2.0;
include "qelib1.inc";
qreg q[2];
creg c[2];
h q[0];
cx q[0], q[1];
measure q -> c;
"""
BELL3 = """OPENQASM 3.0;
include "stdgates.inc";
qubit[2] q;
bit[2] c;
h q[0];
cx q[0], q[1];
c = measure q;
"""


def _info(
    *,
    max_qubits: int = 5,
    max_depth: int = 50,
    gates: frozenset[str] = frozenset({"h", "x", "cx", "measure", "barrier", "reset"}),
) -> BackendInfo:
    return BackendInfo(
        name="test_backend",
        kind=BackendKind.SIMULATOR,
        region="local",
        description="limits chosen per test",
        limits=BackendLimits(
            max_qubits=max_qubits,
            max_depth=max_depth,
            min_shots=1,
            max_shots=1000,
            basis_gates=gates,
        ),
    )


def _qasm2(body: str, qubits: int = 2, clbits: int = 2) -> str:
    return f'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[{qubits}];\ncreg c[{clbits}];\n{body}'


def _refusal(source: str, fmt: SourceFormat = QASM2, **kwargs: object) -> ValidationFailed:
    info = kwargs.pop("info", _info())
    shots = kwargs.pop("shots", 100)
    payload = kwargs.pop("payload", PAYLOAD)
    with pytest.raises(ValidationFailed) as caught:
        validate_submission(source, fmt, shots, info, payload)  # type: ignore[arg-type]
    return caught.value


# -- accepted ---------------------------------------------------------------


@pytest.mark.parametrize(("source", "fmt"), [(BELL2, QASM2), (BELL3, QASM3)])
def test_openqasm_2_and_3_bell_circuits_are_accepted(source: str, fmt: SourceFormat) -> None:
    circuit, summary = validate_submission(source, fmt, 100, _info(), PAYLOAD)

    assert circuit.num_qubits == 2
    assert summary.qubits == 2
    assert summary.clbits == 2
    assert summary.depth == 3
    assert summary.gates == frozenset({"h", "cx", "measure"})


def test_user_defined_gates_built_from_supported_gates_are_accepted() -> None:
    source = _qasm2("gate bell a, b { h a; cx a, b; }\nbell q[0], q[1];\nmeasure q -> c;")

    _, summary = validate_submission(source, QASM2, 10, _info(), PAYLOAD)

    assert summary.gates == frozenset({"h", "cx", "measure"})
    assert summary.depth == 3


def test_standard_gates_outside_the_basis_are_accepted_when_they_decompose_into_it() -> None:
    info = default_catalogue().get("aer_statevector").info
    assert "ch" not in info.limits.basis_gates
    source = _qasm2("ch q[0], q[1];\nrccx q[0], q[1], q[2];\nmeasure q -> c;", 3, 3)

    _, summary = validate_submission(source, QASM2, 10, info, PAYLOAD)

    assert summary.gates <= info.limits.basis_gates


def test_barriers_do_not_count_towards_depth() -> None:
    source = _qasm2("h q[0];\nbarrier q;\nbarrier q;\nmeasure q -> c;")

    _, summary = validate_submission(source, QASM2, 10, _info(), PAYLOAD)

    assert summary.depth == 2


# -- refusals, in order ---------------------------------------------------------


def test_payload_over_the_limit_is_refused_with_its_size() -> None:
    source = BELL2 + "// " + "x" * 200

    error = _refusal(source, payload=100)

    assert isinstance(error, PayloadTooLarge)
    assert error.extensions == {
        "limit": "max_payload_bytes",
        "allowed": 100,
        "actual": len(source.encode()),
    }


def test_payload_size_is_measured_in_utf8_bytes_not_characters() -> None:
    source = BELL2 + "// " + "é" * 60  # 60 characters, 120 bytes

    error = _refusal(source, payload=len(BELL2) + 100)

    assert isinstance(error, PayloadTooLarge)
    assert error.extensions["actual"] == len(source.encode("utf-8"))


def test_payload_size_is_checked_before_parsing() -> None:
    error = _refusal("this is not OpenQASM at all " * 100, payload=100)

    assert isinstance(error, PayloadTooLarge)


@pytest.mark.parametrize(
    ("source", "fmt"),
    [
        ("OPENQASM 2.0;\nqreg q[2]\nh q;", QASM2),
        (_qasm2("frobnicate q[0];"), QASM2),
        ("OPENQASM 3.0;\nqubit[2] q h", QASM3),
        ('OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[1] q;\nnope q[0];', QASM3),
        ("   \n", QASM2),
        ("", QASM3),
    ],
)
def test_unparsable_source_is_refused_with_a_one_line_message(
    source: str, fmt: SourceFormat
) -> None:
    error = _refusal(source, fmt)

    assert type(error) is ValidationFailed
    assert error.extensions["limit"] == "source"
    assert "\n" not in str(error)


def test_parse_errors_never_echo_much_of_the_source() -> None:
    marker = "Q" * 5000
    source = f"OPENQASM 2.0;\nqreg {marker}[2];\nh {marker};"

    error = _refusal(source)

    assert len(str(error)) <= MAX_QUOTED_CHARS + 60
    assert marker not in str(error)


def test_deeply_nested_openqasm_3_is_refused_not_crashed() -> None:
    depth = 3000
    source = "OPENQASM 3.0;\nqubit[1] q;\nbit[1] c;\n" + "if (c[0]) { " * depth + "}" * depth

    error = _refusal(source, QASM3)

    assert error.extensions["limit"] == "source"


@pytest.mark.parametrize(
    ("source", "fmt", "allowed"),
    [
        ('OPENQASM 2.0;\ninclude "/etc/passwd";\nqreg q[1];', QASM2, "qelib1.inc"),
        ('OPENQASM 2.0;\ninclude "qelib1.inc";\ninclude "other.inc";', QASM2, "qelib1.inc"),
        ('OPENQASM 3.0;\ninclude "/etc/passwd";\nqubit q;', QASM3, "stdgates.inc"),
    ],
)
def test_only_the_standard_gate_library_may_be_included(
    source: str, fmt: SourceFormat, allowed: str
) -> None:
    error = _refusal(source, fmt)

    assert error.extensions == {"limit": "include", "allowed": allowed}
    assert "root" not in str(error)  # nothing of a server file comes back


def test_unbound_input_parameters_are_refused() -> None:
    source = (
        'OPENQASM 3.0;\ninclude "stdgates.inc";\ninput float[64] theta;\n'
        "qubit[1] q;\nbit[1] c;\nrx(theta) q[0];\nc[0] = measure q[0];"
    )

    error = _refusal(source, QASM3)

    assert error.extensions == {"limit": "parameters", "allowed": 0, "actual": 1}


def test_a_circuit_without_measurement_is_refused() -> None:
    error = _refusal(_qasm2("h q[0];\ncx q[0], q[1];"))

    assert error.extensions == {"limit": "min_measurements", "allowed": 1, "actual": 0}


def test_measurement_is_checked_before_qubits_depth_shots_and_gates() -> None:
    source = _qasm2("h q[0];\n" * 100 + "opaque zz a;\nzz q[0];")

    error = _refusal(source, shots=0)

    assert error.extensions["limit"] == "min_measurements"


@pytest.mark.parametrize("fmt", [QASM2, QASM3])
def test_more_qubits_than_the_backend_allows_is_refused(fmt: SourceFormat) -> None:
    if fmt is QASM2:
        source = _qasm2("measure q -> c;", qubits=6, clbits=6)
    else:
        source = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[6] q;\nbit[6] c;\nc = measure q;'

    error = _refusal(source, fmt)

    assert error.extensions == {"limit": "max_qubits", "allowed": 5, "actual": 6}


def test_physical_qubits_count_towards_the_qubit_limit() -> None:
    source = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nbit[1] c;\nh $5;\nc[0] = measure $5;'

    error = _refusal(source, QASM3)

    assert error.extensions["limit"] == "max_qubits"
    assert error.extensions["actual"] == 6


@pytest.mark.parametrize(
    ("source", "fmt"),
    [
        ("OPENQASM 2.0;\nqreg q[100000000];\ncreg c[1];\nmeasure q[0] -> c[0];", QASM2),
        ("OPENQASM 3.0;\nqubit[100000000] q;\nbit c;\nc = measure q[0];", QASM3),
        ("OPENQASM 3.0;\nbit c;\nc = measure $99999999;", QASM3),
    ],
)
def test_huge_registers_are_refused_before_the_parser_builds_them(
    source: str, fmt: SourceFormat
) -> None:
    started = time.perf_counter()

    error = _refusal(source, fmt)

    assert error.extensions["limit"] == "max_qubits"
    assert time.perf_counter() - started < 2.0


@pytest.mark.parametrize(
    ("source", "fmt"),
    [
        ("OPENQASM 2.0;\nqreg q[0x10];", QASM2),
        ("OPENQASM 3.0;\nqubit[2 * 8] q;", QASM3),
        ("OPENQASM 3.0;\nconst uint n = 4;\nqubit[n] q;", QASM3),
    ],
)
def test_register_sizes_must_be_plain_integer_literals(source: str, fmt: SourceFormat) -> None:
    error = _refusal(source, fmt)

    assert error.extensions["limit"] == "source"


def test_too_many_classical_bits_are_refused() -> None:
    error = _refusal(_qasm2("measure q[0] -> c[0];", clbits=MAX_CLBITS + 1))

    assert error.extensions == {
        "limit": "max_clbits",
        "allowed": MAX_CLBITS,
        "actual": MAX_CLBITS + 1,
    }


def test_a_circuit_deeper_than_the_backend_allows_is_refused() -> None:
    error = _refusal(_qasm2("h q[0];\n" * 60 + "measure q -> c;"))

    assert error.extensions == {"limit": "max_depth", "allowed": 50, "actual": 61}


def test_depth_counts_the_expanded_user_defined_gates() -> None:
    body = "gate four a { h a; h a; h a; h a; }\n" + "four q[0];\n" * 13 + "measure q -> c;"

    error = _refusal(_qasm2(body))

    assert error.extensions == {"limit": "max_depth", "allowed": 50, "actual": 53}


def test_exponentially_nested_gate_definitions_are_refused_quickly() -> None:
    definitions = "gate g0 a { x a; }\n" + "".join(
        f"gate g{i} a {{ g{i - 1} a; g{i - 1} a; }}\n" for i in range(1, 60)
    )
    started = time.perf_counter()

    error = _refusal(_qasm2(definitions + "g59 q[0];\nmeasure q -> c;"))

    assert error.extensions["limit"] == "max_operations"
    assert time.perf_counter() - started < 2.0


@pytest.mark.parametrize("fmt", [QASM2, QASM3])
def test_register_wide_gates_are_bounded_before_the_circuit_is_built(fmt: SourceFormat) -> None:
    body = "h q;\n" * 200
    if fmt is QASM2:
        source = _qasm2(body + "measure q -> c;", qubits=5, clbits=5)
    else:
        source = f'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[5] q;\nbit[5] c;\n{body}'

    error = _refusal(source, fmt, info=_info(max_depth=10))

    # 200 statements x 5 qubits exceeds 2 x depth 10 x 5 qubits
    assert error.extensions["limit"] == "max_operations"


def test_depth_is_checked_before_shots() -> None:
    error = _refusal(_qasm2("h q[0];\n" * 60 + "measure q -> c;"), shots=0)

    assert error.extensions["limit"] == "max_depth"


@pytest.mark.parametrize(
    ("shots", "limit", "allowed"),
    [(0, "min_shots", 1), (-5, "min_shots", 1), (1001, "max_shots", 1000)],
)
def test_shots_outside_the_backends_range_are_refused(shots: int, limit: str, allowed: int) -> None:
    error = _refusal(BELL2, shots=shots)

    assert error.extensions == {"limit": limit, "allowed": allowed, "actual": shots}


def test_boolean_shots_are_not_a_number_of_shots() -> None:
    error = _refusal(BELL2, shots=True)

    assert error.extensions["limit"] == "min_shots"


def test_shots_are_checked_before_gates() -> None:
    error = _refusal(_qasm2("opaque zz a;\nzz q[0];\nmeasure q -> c;"), shots=0)

    assert error.extensions["limit"] == "min_shots"


def test_gates_the_backend_cannot_run_are_named_in_sorted_order() -> None:
    body = "opaque zeta a;\nopaque alpha a;\nzeta q[0];\nalpha q[1];\nh q[0];\nmeasure q -> c;"

    error = _refusal(_qasm2(body))

    assert error.extensions == {
        "limit": "basis_gates",
        "unsupported": ["alpha", "zeta"],
        "backend": "test_backend",
    }
    assert "alpha, zeta" in str(error)


def test_control_flow_is_refused_as_an_unsupported_operation() -> None:
    source = (
        'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[1] q;\nbit[1] c;\n'
        "for uint i in [0:1000000000] { h q[0]; }\nc[0] = measure q[0];"
    )

    error = _refusal(source, QASM3)

    assert error.extensions["unsupported"] == ["for_loop"]


def test_parse_circuit_on_its_own_reads_both_formats() -> None:
    assert parse_circuit(BELL2, QASM2).count_ops()["measure"] == 2
    assert parse_circuit(BELL3, QASM3).count_ops()["measure"] == 2
