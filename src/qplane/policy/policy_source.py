"""Cedar policy text, parsed into policies that know their id, line and source.

Cedar's Python binding reports parse and validation errors without a
location and numbers policies by position (``policy0``, ``policy1``…). This
module splits the text into its statements with a small lexer (strings and
``//`` comments are the only places a ``;`` does not end a statement), so
every error can name the policy's ``@id`` and the line it starts on, and an
explanation can quote a policy exactly as its author wrote it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import cedarpy

from qplane.policy.entities import JsonValue


class PolicySyntaxError(ValueError):
    """The text is not Cedar; ``line`` is where the offending statement starts."""

    def __init__(self, line: int | None, message: str) -> None:
        where = f"policy at line {line}: " if line is not None else ""
        super().__init__(f"{where}{message}")
        self.line = line
        self.message = message


@dataclass(frozen=True, slots=True)
class SourcePolicy:
    #: Cedar's positional id (``policy3``), the key its diagnostics use.
    position_id: str
    #: The value of the ``@id`` annotation, if the policy has one.
    annotated_id: str | None
    line: int
    text: str
    effect: str
    #: The policy in Cedar's JSON form (EST).
    est: dict[str, JsonValue]

    @property
    def label(self) -> str:
        """How an error names this policy: its ``@id`` where it has one."""
        name = repr(self.annotated_id) if self.annotated_id is not None else self.position_id
        return f"policy {name} (line {self.line})"


@dataclass(frozen=True, slots=True)
class PolicySource:
    text: str
    policies: tuple[SourcePolicy, ...]
    has_templates: bool

    def by_position(self, position_id: str) -> SourcePolicy | None:
        return next((p for p in self.policies if p.position_id == position_id), None)


def parse_policies(text: str) -> PolicySource:
    """Parse *text*; raise `PolicySyntaxError` naming the first bad statement's line."""
    statements = list(_statements(text))
    try:
        document: dict[str, Any] = json.loads(cedarpy.policies_to_json_str(text))
    except ValueError as error:
        raise _locate_syntax_error(statements, error) from None
    static: dict[str, Any] = document.get("staticPolicies", {})
    templates: dict[str, Any] = document.get("templates", {})
    found = {**static, **templates}
    if len(found) != len(statements):
        # The lexer and Cedar disagree on where statements end: refuse rather than
        # attach one policy's line or text to another.
        raise PolicySyntaxError(None, "could not locate the policies in the text")
    policies = tuple(
        _source_policy(f"policy{index}", found[f"policy{index}"], line, source)
        for index, (line, source) in enumerate(statements)
    )
    return PolicySource(text=text, policies=policies, has_templates=bool(templates))


def validation_problems(source: PolicySource, schema: cedarpy.Schema) -> tuple[str, ...]:
    """Schema validation errors, each naming the policy (``@id`` and line) it concerns."""
    result = cedarpy.validate_policies(source.text, schema)
    problems = []
    for error in result.errors:
        policy = source.by_position(error.policy_id)
        message = _POSITIONAL_PREFIX.sub("", error.error)
        problems.append(f"{policy.label}: {message}" if policy else message)
    return tuple(problems)


_POSITIONAL_PREFIX = re.compile(r"^for policy `[^`]*`, ")


def _source_policy(position_id: str, est: dict[str, Any], line: int, text: str) -> SourcePolicy:
    annotations = est.get("annotations") or {}
    annotated = annotations.get("id")
    return SourcePolicy(
        position_id=position_id,
        annotated_id=annotated if isinstance(annotated, str) else None,
        line=line,
        text=text,
        effect=str(est.get("effect")),
        est=est,
    )


def _locate_syntax_error(statements: list[tuple[int, str]], error: ValueError) -> PolicySyntaxError:
    for line, source in statements:
        try:
            cedarpy.policies_to_json_str(source)
        except ValueError as inner:
            return PolicySyntaxError(line, str(inner))
    # Every statement parses alone, so the trouble is after the last one.
    return PolicySyntaxError(None, str(error))


def _statements(text: str) -> Iterator[tuple[int, str]]:
    """Yield (first line, text) of each ``;``-terminated statement.

    Leading blank lines are dropped; comments directly above a policy stay
    with it, because they are part of what a reviewer should read. A
    trailing fragment without ``;`` is yielded too, so Cedar can report it.
    """
    start, index, length = 0, 0, len(text)
    while index < length:
        char = text[index]
        if char == '"':
            index = _end_of_string(text, index)
        elif text.startswith("//", index):
            newline = text.find("\n", index)
            index = length if newline < 0 else newline
        elif char == ";":
            yield _located(text, start, index + 1)
            start = index + 1
        index += 1
    tail = _located(text, start, length)
    if _has_code(tail[1]):
        yield tail


def _end_of_string(text: str, quote: int) -> int:
    index = quote + 1
    while index < len(text) and text[index] != '"':
        index += 2 if text[index] == "\\" else 1
    return index


def _located(text: str, start: int, end: int) -> tuple[int, str]:
    """The statement's first code line (past its comments) and its text.

    The text keeps the comment block directly above the policy (a reviewer
    should read it) but not comments separated from it by a blank line,
    such as a file header.
    """
    lines = text[start:end].split("\n")
    first_code = next((i for i, line in enumerate(lines) if _is_code(line)), len(lines) - 1)
    first_kept = first_code
    while first_kept > 0 and lines[first_kept - 1].strip().startswith("//"):
        first_kept -= 1
    line_number = text.count("\n", 0, start) + 1 + first_code
    return line_number, "\n".join(lines[first_kept:]).strip()


def _is_code(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("//")


def _has_code(fragment: str) -> bool:
    return any(_is_code(line) for line in fragment.splitlines())
