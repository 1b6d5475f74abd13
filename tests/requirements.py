"""One rule for tests that need a real component (PostgreSQL, SoftHSM, xmlsec1, the OIDC IdP).

Missing locally, they skip with the reason; under ``CI=true`` they FAIL, so a
CI machine without the component can never pass by skipping.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def unavailable(problem: str, tests: str) -> NoReturn:
    """Skip (locally) or fail (CI) because *problem* keeps *tests* from running."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{problem} (CI=true: {tests} must run, not skip)")
    pytest.skip(problem)
