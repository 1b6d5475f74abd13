"""Circuit validation: what the control plane checks before a job is queued.

The control plane parses tenant-written OpenQASM in its own process, so parsing
itself is attack surface. `parse_circuit` therefore refuses, *before* handing
the text to a parser:

* any ``include`` other than the standard gate library (``qelib1.inc`` /
  ``stdgates.inc``) — Qiskit's OpenQASM 2 parser would otherwise read any file
  the server can read and quote it back in its error message;
* register declarations whose sizes are not integer literals, or whose total
  exceeds the qubit / classical-bit cap — a 20-byte ``qreg q[100000000];``
  costs minutes of CPU and gigabytes of memory to build;
* (when the caller gives a budget) sources whose register-wide gates would
  expand to more operations than the backend could accept — ``h q;`` is one
  operation per qubit, so a small payload can otherwise build millions.

After parsing, `summarize` expands user-defined gates iteratively under the
same kind of budget, since nested definitions grow exponentially.

Every error message is one line and quotes at most `MAX_QUOTED_CHARS` of
parser output; none repeats the source itself. `validate_submission` then
applies the backend's limits in a fixed order (see its docstring).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import openqasm3
import qiskit_qasm3_import
from openqasm3 import ast
from openqasm3.parser import QASM3ParsingError
from qiskit import QuantumCircuit, qasm2
from qiskit.qasm3 import QASM3ImporterError

from qplane.domain.errors import PayloadTooLarge, ValidationFailed
from qplane.domain.jobs import SourceFormat

if TYPE_CHECKING:
    from qiskit.circuit import Operation

    from qplane.domain.backends import BackendInfo

#: Cap on declared qubits for callers that name no backend.
DEFAULT_MAX_PARSE_QUBITS: Final = 128
#: Cap on declared classical bits; counts keys grow with them.
MAX_CLBITS: Final = 1024
#: At most this many characters of a parser's message reach the caller.
MAX_QUOTED_CHARS: Final = 200
#: Definition expansion may take this many steps per (depth x qubit) allowed.
EXPANSION_FACTOR: Final = 2

_PARSER_ERRORS: Final = (
    qasm2.QASM2ParseError,
    QASM3ParsingError,
    QASM3ImporterError,
    qiskit_qasm3_import.ConversionError,
)
_STANDARD_INCLUDE: Final = {SourceFormat.QASM2: "qelib1.inc", SourceFormat.QASM3: "stdgates.inc"}
_LABEL: Final = {SourceFormat.QASM2: "OpenQASM 2", SourceFormat.QASM3: "OpenQASM 3"}
_QASM2_COMMENT: Final = re.compile(r"//[^\n]*")
_QASM2_INCLUDE: Final = re.compile(r"\binclude\b")
_QASM2_QELIB: Final = re.compile(r'\s*"qelib1\.inc"')
_QASM2_KEYWORD: Final = re.compile(r"\b(qreg|creg)\b")
_QASM2_DECLARATION: Final = re.compile(r"\s+([A-Za-z_]\w*)\s*\[\s*(\d{1,9})\s*\]")
_QASM2_GATE_BODY: Final = re.compile(r"\{[^}]*\}")
_QASM2_BARE_NAME: Final = re.compile(r"\b([A-Za-z_]\w*)\b(?!\s*\[)")


@dataclass(frozen=True, slots=True)
class CircuitSummary:
    """What validation learned about a circuit, after gate definitions were expanded.

    ``depth`` ignores barriers (as `QuantumCircuit.depth` does); ``gates`` are
    the operation names that will actually run.
    """

    qubits: int
    clbits: int
    depth: int
    gates: frozenset[str]


def parse_circuit(
    source: str,
    fmt: SourceFormat,
    *,
    max_qubits: int = DEFAULT_MAX_PARSE_QUBITS,
    max_operations: int | None = None,
) -> QuantumCircuit:
    """Parse OpenQASM 2 or 3 into a circuit, or raise `ValidationFailed`.

    Refuses non-standard includes and oversized declarations before building
    the circuit (module docstring): more than *max_qubits* declared qubits
    (``limit="max_qubits"``), more than `MAX_CLBITS` classical bits, or, when
    *max_operations* is given, an upper bound on the operations the source
    expands to (register-wide gates count once per qubit) above it
    (``limit="max_operations"``).
    """
    label = _LABEL[fmt]
    if not source.strip():
        raise ValidationFailed(f"the {label} source is empty", limit="source")
    try:
        if fmt is SourceFormat.QASM2:
            _scan_qasm2(source).check(max_qubits, max_operations)
            return qasm2.loads(
                source,
                include_path=(),
                custom_instructions=qasm2.LEGACY_CUSTOM_INSTRUCTIONS,
            )
        program = openqasm3.parse(source)
        _scan_qasm3(program).check(max_qubits, max_operations)
        return qiskit_qasm3_import.convert(program)
    except (ValidationFailed, MemoryError):
        raise
    except RecursionError:
        raise ValidationFailed(
            f"could not parse the {label} source: it is nested too deeply", limit="source"
        ) from None
    except Exception as exc:
        raise ValidationFailed(
            f"could not parse the {label} source: {_parser_message(exc)}", limit="source"
        ) from None


def validate_submission(
    source: str,
    fmt: SourceFormat,
    shots: int,
    info: BackendInfo,
    max_payload_bytes: int,
) -> tuple[QuantumCircuit, CircuitSummary]:
    """Check a submission against the platform and *info*'s limits, or raise.

    Refusals, in this order, each naming the limit in its extensions
    (``limit``, ``allowed``, ``actual``):

    1. payload over *max_payload_bytes* UTF-8 bytes (`PayloadTooLarge`), before parsing;
    2. unparsable source (``source``, ``include``) — or, found before parsing,
       declarations over ``max_qubits`` / ``max_clbits`` or register-wide gates
       over ``max_operations`` — and unbound input parameters (``parameters``);
    3. no measurement (``min_measurements``): without classical output there are no counts;
    4. more qubits than ``max_qubits``;
    5. deeper than ``max_depth`` once user-defined gates are expanded
       (``max_operations`` if the expansion itself grows too large);
    6. shots outside [``min_shots``, ``max_shots``];
    7. gates outside the backend's ``basis_gates`` (named, sorted, in ``unsupported``).

    Returns the circuit as parsed (not expanded) and its summary.
    """
    _check_payload(source, max_payload_bytes)
    limits = info.limits
    try:
        circuit = parse_circuit(
            source,
            fmt,
            max_qubits=limits.max_qubits,
            max_operations=EXPANSION_FACTOR * limits.max_depth * limits.max_qubits,
        )
    except ValidationFailed as exc:
        raise _on_backend(exc, info.name) from None
    if circuit.num_parameters:
        raise ValidationFailed(
            "the circuit has unbound input parameters",
            limit="parameters",
            allowed=0,
            actual=circuit.num_parameters,
        )
    if "measure" not in circuit.count_ops():
        raise ValidationFailed(
            "the circuit has no measurement, so it cannot produce counts",
            limit="min_measurements",
            allowed=1,
            actual=0,
        )
    _check_at_most(
        "max_qubits", "qubit count", limits.max_qubits, circuit.num_qubits, backend=info.name
    )
    summary = summarize(circuit, limits.basis_gates, max_depth=limits.max_depth)
    _check_at_most("max_depth", "circuit depth", limits.max_depth, summary.depth)
    _check_shots(shots, limits.min_shots, limits.max_shots, backend=info.name)
    unsupported = sorted(summary.gates - limits.basis_gates)
    if unsupported:
        raise ValidationFailed(
            f"backend '{info.name}' cannot run: {', '.join(unsupported)}"[:MAX_QUOTED_CHARS],
            limit="basis_gates",
            unsupported=unsupported,
            backend=info.name,
        )
    return circuit, summary


def summarize(circuit: QuantumCircuit, basis: frozenset[str], *, max_depth: int) -> CircuitSummary:
    """Expand every gate outside *basis* that has a definition, and measure the result.

    Expansion is iterative and budgeted (``EXPANSION_FACTOR`` x *max_depth* x
    qubits steps), because nested definitions can grow exponentially: ten
    lines of ``gate`` definitions can stand for 2**30 operations. Over budget
    raises `ValidationFailed` with ``limit="max_operations"``.
    """
    budget = EXPANSION_FACTOR * max_depth * max(1, circuit.num_qubits)
    if len(circuit.data) > budget:
        raise _over_budget(budget)
    expansions = _Expansions(basis)
    stack = list(reversed(_positions(circuit)))
    levels = [0] * (circuit.num_qubits + circuit.num_clbits)
    gates: set[str] = set()
    for _ in range(budget):
        if not stack:
            break
        operation, wires = stack.pop()
        body = expansions.body(operation)
        if body is not None:
            stack.extend((inner, tuple(wires[i] for i in local)) for inner, local in body)
            continue
        gates.add(operation.name)
        if operation.name != "barrier" and wires:
            level = max(levels[w] for w in wires) + 1
            for wire in wires:
                levels[wire] = level
    if stack:
        raise _over_budget(budget)
    return CircuitSummary(
        qubits=circuit.num_qubits,
        clbits=circuit.num_clbits,
        depth=max(levels, default=0),
        gates=frozenset(gates),
    )


def _over_budget(budget: int) -> ValidationFailed:
    return ValidationFailed(
        "expanding the circuit's gate definitions exceeds the operation budget",
        limit="max_operations",
        allowed=budget,
    )


_Body = list[tuple["Operation", tuple[int, ...]]]


class _Expansions:
    """Definitions of non-basis gates, built once per distinct gate.

    Building a definition can be costly (OpenQASM 2 gates rebuild theirs on
    every access), and the same gate is expanded many times.
    """

    def __init__(self, basis: frozenset[str]) -> None:
        self._basis = basis
        self._cache: dict[object, _Body | None] = {}

    def body(self, operation: Operation) -> _Body | None:
        """The operations a gate stands for, reversed, with positions into its wires."""
        if operation.name in self._basis:
            return None
        try:
            key: object = (
                type(operation),
                operation.name,
                operation.num_qubits,
                tuple(getattr(operation, "params", ())),
            )
            hash(key)
        except TypeError:
            return self._build(operation)
        if key not in self._cache:
            self._cache[key] = self._build(operation)
        return self._cache[key]

    @staticmethod
    def _build(operation: Operation) -> _Body | None:
        try:
            definition: QuantumCircuit | None = getattr(operation, "definition", None)
        except Exception:  # a gate that cannot build its definition runs as written
            return None
        if definition is None:
            return None
        return list(reversed(_positions(definition)))


def _positions(circuit: QuantumCircuit) -> _Body:
    # Wires are positional: the circuit's qubits, then its clbits. A
    # definition's positions map in that order onto the expanded gate's wires.
    index = {bit: i for i, bit in enumerate((*circuit.qubits, *circuit.clbits))}
    return [
        (item.operation, tuple(index[bit] for bit in (*item.qubits, *item.clbits)))
        for item in circuit.data
    ]


def _check_payload(source: str, max_payload_bytes: int) -> None:
    # A str never has fewer UTF-8 bytes than characters: skip encoding a huge one.
    size = len(source) if len(source) > max_payload_bytes else _utf8_size(source)
    if size > max_payload_bytes:
        raise PayloadTooLarge(
            f"the source is {size} bytes; the limit is {max_payload_bytes}",
            limit="max_payload_bytes",
            allowed=max_payload_bytes,
            actual=size,
        )


def _utf8_size(source: str) -> int:
    try:
        return len(source.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValidationFailed("the source is not valid UTF-8 text", limit="source") from None


def _on_backend(error: ValidationFailed, backend: str) -> ValidationFailed:
    """*error*, reworded to name *backend* when the backend's qubit count refused it."""
    if type(error) is not ValidationFailed or error.extensions.get("limit") != "max_qubits":
        return error
    return ValidationFailed(f"{error.detail} on backend '{backend}'", **error.extensions)


def _check_at_most(
    limit: str, noun: str, allowed: int, actual: int, *, backend: str | None = None
) -> None:
    if actual > allowed:
        where = f" on backend '{backend}'" if backend else ""
        raise ValidationFailed(
            f"{noun} {actual} exceeds the limit of {allowed}{where}",
            limit=limit,
            allowed=allowed,
            actual=actual,
        )


def _check_shots(shots: int, minimum: int, maximum: int, *, backend: str) -> None:
    if not isinstance(shots, int) or isinstance(shots, bool):
        raise ValidationFailed("shots must be an integer", limit="min_shots", allowed=minimum)
    if shots < minimum:
        raise ValidationFailed(
            f"shots must be at least {minimum}", limit="min_shots", allowed=minimum, actual=shots
        )
    if shots > maximum:
        raise ValidationFailed(
            f"shots must be at most {maximum} on backend '{backend}'",
            limit="max_shots",
            allowed=maximum,
            actual=shots,
        )


@dataclass(frozen=True, slots=True)
class _Declared:
    """What a source declares, read before parsing: bits, and an upper bound on operations."""

    qubits: int
    clbits: int
    operations: int

    def check(self, max_qubits: int, max_operations: int | None) -> None:
        _check_at_most("max_qubits", "declared qubit count", max_qubits, self.qubits)
        _check_at_most("max_clbits", "declared classical bit count", MAX_CLBITS, self.clbits)
        if max_operations is not None and self.operations > max_operations:
            raise _over_budget(max_operations)


def _scan_qasm2(source: str) -> _Declared:
    # Qiskit's OpenQASM 2 lexer knows only '//' comments, and the only strings
    # are include file names, so stripping comments first mirrors what it reads.
    code = _QASM2_COMMENT.sub(" ", source)
    for found in _QASM2_INCLUDE.finditer(code):
        if _QASM2_QELIB.match(code, found.end()) is None:
            raise _bad_include(SourceFormat.QASM2)
    registers: dict[str, int] = {}
    clbits = 0
    for found in _QASM2_KEYWORD.finditer(code):
        declaration = _QASM2_DECLARATION.match(code, found.end())
        if declaration is None:
            raise ValidationFailed("register sizes must be plain decimal numbers", limit="source")
        name, size = declaration.group(1), int(declaration.group(2))
        if found.group(1) == "qreg":
            registers[name] = size
        else:
            clbits += size
    # Outside gate bodies, each statement is one operation, or one per qubit
    # of every register it names whole (broadcast).
    top = _QASM2_GATE_BODY.sub(" ", code)
    whole = sum(registers.get(m.group(1), 0) for m in _QASM2_BARE_NAME.finditer(top))
    return _Declared(sum(registers.values()), clbits, top.count(";") + whole)


def _scan_qasm3(program: ast.Program) -> _Declared:
    qubits = clbits = single = broadcast = 0
    highest_physical = -1
    for node in _walk(program):
        if isinstance(node, ast.Include) and node.filename != "stdgates.inc":
            raise _bad_include(SourceFormat.QASM3)
        if isinstance(node, ast.QubitDeclaration):
            qubits += _literal_size(node.size)
        elif isinstance(node, ast.BitType):
            clbits += _literal_size(node.size)
        elif isinstance(node, ast.Identifier) and node.name.startswith("$"):
            index = node.name[1:]
            highest_physical = max(highest_physical, int(index) if len(index) <= 9 else 10**9)
        elif (operands := _operands(node)) is not None:
            if all(_is_single_qubit(operand) for operand in operands):
                single += 1
            else:
                broadcast += 1
    qubits += highest_physical + 1
    return _Declared(qubits, clbits, single + broadcast * qubits)


def _operands(node: ast.QASMNode) -> list[ast.QASMNode] | None:
    if isinstance(node, ast.QuantumGate | ast.QuantumBarrier):
        return list(node.qubits)
    if isinstance(node, ast.QuantumReset):
        return [node.qubits]
    if isinstance(node, ast.QuantumMeasurementStatement):
        return [node.measure.qubit]
    return None


def _is_single_qubit(operand: ast.QASMNode) -> bool:
    if isinstance(operand, ast.Identifier):
        return operand.name.startswith("$")
    return (
        isinstance(operand, ast.IndexedIdentifier)
        and len(operand.indices) == 1
        and isinstance(operand.indices[0], list)
        and len(operand.indices[0]) == 1
        and isinstance(operand.indices[0][0], ast.IntegerLiteral)
    )


def _walk(program: ast.Program) -> list[ast.QASMNode]:
    """Every AST node, depth-first, without recursion (nesting is attacker-chosen)."""
    found: list[ast.QASMNode] = []
    pending: list[object] = [program]
    while pending:
        item = pending.pop()
        if isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, ast.QASMNode):
            found.append(item)
            pending.extend(getattr(item, f.name) for f in dataclasses.fields(item))
    return found


def _literal_size(size: ast.Expression | None) -> int:
    if size is None:
        return 1
    if isinstance(size, ast.IntegerLiteral):
        return size.value
    raise ValidationFailed("register sizes must be integer literals", limit="source")


def _bad_include(fmt: SourceFormat) -> ValidationFailed:
    allowed = _STANDARD_INCLUDE[fmt]
    return ValidationFailed(
        f"only the standard library '{allowed}' may be included", limit="include", allowed=allowed
    )


def _parser_message(exc: Exception) -> str:
    # Only the parsers' own errors describe the source; anything else is an
    # internal failure whose text is no business of the caller.
    if not isinstance(exc, _PARSER_ERRORS):
        return "the parser could not read it"
    # QiskitError keeps the bare text in .message; its str() adds quotes.
    message = " ".join(str(getattr(exc, "message", None) or exc).split()) or "syntax error"
    if len(message) > MAX_QUOTED_CHARS:
        message = message[: MAX_QUOTED_CHARS - 3] + "..."
    return message
