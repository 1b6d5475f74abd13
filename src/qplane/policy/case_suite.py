"""A version's test cases: one or more case files, carried as one YAML stream.

A policy directory may hold several case files (one per concern, each
describing its own tenant facts and backends). They travel and are stored
as a single text, the files joined as YAML documents (``---``), so a
version keeps exactly the cases it was tested with and the server and the
CLI run them the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from qplane.policy.case_runner import CaseResult, PolicyTestReport, run_policy_tests
from qplane.policy.cases import PolicyCaseFile, load_cases
from qplane.policy.engine import PolicyEngine
from qplane.policy.entities import EntityRef
from qplane.policy.errors import InvalidPolicyCase

#: Cases of one version, all files together; large enough for thousands of cases.
MAX_CASES_TEXT: Final = 1024 * 1024
#: A YAML document marker on a line of its own; it can occur nowhere else at column 0.
_DOCUMENT_MARKER: Final = re.compile(r"^---[ \t]*(?:#.*)?$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class CaseSuite:
    files: tuple[PolicyCaseFile, ...]

    @property
    def case_count(self) -> int:
        return sum(len(file.cases) for file in self.files)

    @property
    def known_entities(self) -> frozenset[EntityRef]:
        """Every tenant entity the files mention: what offline validation accepts."""
        return frozenset().union(*(file.known_entities for file in self.files))


def join_case_texts(files: Iterable[tuple[str, str]]) -> str:
    """One stream of (name, text) case files, in the order given; each keeps its name."""
    return "---\n".join(f"# cases file: {name}\n{text.strip(chr(10))}\n" for name, text in files)


def load_case_suite(text: str) -> CaseSuite:
    """Parse every case file of the stream; raise `InvalidPolicyCase` naming the file at fault.

    A version is accepted only with at least one case: a version without
    tests would activate on nothing.
    """
    if len(text.encode("utf-8")) > MAX_CASES_TEXT:
        raise InvalidPolicyCase(None, f"the cases are limited to {MAX_CASES_TEXT} bytes")
    documents = [doc for doc in _DOCUMENT_MARKER.split(text) if _has_content(doc)]
    if not documents:
        raise InvalidPolicyCase(None, "no test cases: a policy version needs at least one case")
    files = []
    for index, document in enumerate(documents, start=1):
        try:
            files.append(load_cases(document))
        except InvalidPolicyCase as error:
            if len(documents) > 1:
                error.detail = f"cases file {index} of {len(documents)}, {error.detail}"
            raise
    return CaseSuite(tuple(files))


def run_case_suite(engine: PolicyEngine, policy_text: str, suite: CaseSuite) -> PolicyTestReport:
    """Run every file's cases against the baseline and *policy_text*.

    Each file describes its own tenant, so the policies are loaded as that
    tenant's: the ids its cases expect (``tenant:<id>:…``) and the tenant
    every request is governed by then agree. The text must already have
    been validated for the real tenant; loading checks ids and schema again.
    """
    results: list[CaseResult] = []
    for file in suite.files:
        policies = engine.load_tenant_policies(file.tenant.id, policy_text)
        results.extend(run_policy_tests(engine, policies, file.cases).results)
    return PolicyTestReport(tuple(results))


def check_offline(engine: PolicyEngine, policy_text: str, suite: CaseSuite) -> PolicyTestReport:
    """Validate and run without a server, as ``qplane policy test`` does.

    With no directory at hand, the entities the case files mention stand
    for the tenant's own; the server checks the real directory on push.
    Raises `ValidationFailed` for text the server would refuse on that ground.
    """
    for tenant_id in sorted({file.tenant.id for file in suite.files}):
        engine.validate_tenant_policies(tenant_id, policy_text, suite.known_entities)
    return run_case_suite(engine, policy_text, suite)


def _has_content(document: str) -> bool:
    return any(line.strip() and not line.lstrip().startswith("#") for line in document.split("\n"))
