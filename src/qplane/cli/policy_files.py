"""Reading a policy directory for `qplane policy push|test`: Cedar files and case files.

Every ``*.cedar`` file (sorted by name) joins into one policy text; every
``*.yaml``, ``*.yml`` and ``*.json`` file is a case file, and they join into
one YAML stream. Line numbers the engine reports refer to the joined text,
so `where` maps them back to a file and its own line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from qplane.policy.case_suite import join_case_texts

CASE_SUFFIXES: Final = frozenset({".yaml", ".yml", ".json"})


@dataclass(frozen=True, slots=True)
class PolicyDirectory:
    policies: str
    cases: str
    #: (file name, first line in the joined policy text), in joining order.
    starts: tuple[tuple[str, int], ...]

    def where(self, line: int) -> str:
        """``file.cedar:N`` for line *line* of the joined policy text."""
        name, first = next(
            ((name, first) for name, first in reversed(self.starts) if first <= line),
            ("?", 1),
        )
        return f"{name}:{line - first + 1}"


def read_policy_directory(directory: Path) -> PolicyDirectory:
    """The policies and cases of *directory*; raises `ValueError` when either is missing.

    Cases are required: the server activates only a version whose cases pass.
    """
    if not directory.is_dir():
        raise ValueError(f"{directory} is not a directory")
    cedar = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix == ".cedar")
    cases = sorted(
        p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in CASE_SUFFIXES
    )
    if not cedar:
        raise ValueError(f"no *.cedar files in {directory}")
    if not cases:
        raise ValueError(f"no test cases (*.yaml) in {directory}: a version needs them to activate")
    texts, starts, line = [], [], 1
    for path in cedar:
        text = path.read_text(encoding="utf-8")
        text = text if text.endswith("\n") else text + "\n"
        texts.append(text)
        starts.append((path.name, line))
        line += text.count("\n")
    case_texts = join_case_texts((p.name, p.read_text(encoding="utf-8")) for p in cases)
    return PolicyDirectory("".join(texts), case_texts, tuple(starts))
