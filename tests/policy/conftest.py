"""One policy engine for the package: building it parses and validates the shipped files."""

from __future__ import annotations

import pytest

from qplane.policy.engine import PolicyEngine


@pytest.fixture(scope="session")
def engine() -> PolicyEngine:
    return PolicyEngine()
