"""The schema and baseline are checked at start-up, and every action is accounted for."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from qplane.policy.actions import DENY_BY_DEFAULT, Action
from qplane.policy.engine import PolicyEngine
from qplane.policy.errors import InvalidPolicyConfiguration
from qplane.policy.schema import shipped_text

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = shipped_text("schema.cedarschema")
BASELINE = shipped_text("baseline.cedar")
_ACTION = re.compile(r'^\s*action\s+"([^"]+)"(?:\s+in\s+\[([^\]]*)\])?', re.MULTILINE)


def _schema_actions() -> dict[str, frozenset[str]]:
    """Action name -> the groups it is in, read from the schema text."""
    return {
        name: frozenset(re.findall(r'"([^"]+)"', groups or ""))
        for name, groups in _ACTION.findall(SCHEMA)
    }


def _group_names() -> frozenset[str]:
    return frozenset().union(*_schema_actions().values())


def test_the_shipped_schema_and_baseline_build_an_engine() -> None:
    engine = PolicyEngine()
    assert "baseline.cross-tenant" in engine.baseline.ids
    assert all(policy_id.startswith("baseline.") for policy_id in engine.baseline.ids)


def test_the_action_enum_names_exactly_the_schema_actions() -> None:
    declared = set(_schema_actions()) - _group_names()
    assert declared == {action.value for action in Action}


def test_every_action_has_a_baseline_permit_or_is_deny_by_default(engine: PolicyEngine) -> None:
    membership = _schema_actions()
    permitted: set[str] = set()
    for est in engine.baseline.est.values():
        assert isinstance(est, dict)
        scope = est["action"]
        if est["effect"] == "permit" and isinstance(scope, dict):
            permitted |= _actions_in_scope(scope, membership)
    by_default = {action.value for action in DENY_BY_DEFAULT}
    assert not permitted & by_default, "an action listed as deny-by-default has a permit"
    assert permitted | by_default == {action.value for action in Action}


def _actions_in_scope(scope: dict[str, Any], membership: dict[str, frozenset[str]]) -> set[str]:
    if scope["op"] == "All":
        return set(membership)
    named = [scope["entity"]] if "entity" in scope else scope["entities"]
    found: set[str] = set()
    for uid in named:
        found.add(uid["id"])
        found |= {action for action, groups in membership.items() if uid["id"] in groups}
    return found - _group_names()


def test_the_policy_files_ship_as_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["qplane"]
    assert "policy/*.cedar" in patterns
    assert "policy/*.cedarschema" in patterns


def test_a_schema_that_does_not_parse_is_refused() -> None:
    with pytest.raises(InvalidPolicyConfiguration, match="does not parse"):
        PolicyEngine(schema=SCHEMA.replace("entity Tenant =", "entity Tenant = = "))


def test_a_schema_missing_an_action_is_refused() -> None:
    broken = SCHEMA.replace('action "policy.explain"', 'action "policy.explain-renamed"')
    with pytest.raises(InvalidPolicyConfiguration, match=r"lacks actions: policy\.explain"):
        PolicyEngine(schema=broken)


def test_a_baseline_that_does_not_validate_against_the_schema_is_refused() -> None:
    broken = BASELINE.replace("principal.backends.contains", "principal.backendz.contains")
    with pytest.raises(InvalidPolicyConfiguration, match=r"baseline\.worker-backend") as raised:
        PolicyEngine(baseline=broken)
    assert "does not validate" in raised.value.detail


def test_a_baseline_that_does_not_parse_is_refused() -> None:
    with pytest.raises(InvalidPolicyConfiguration, match="does not parse"):
        PolicyEngine(baseline=BASELINE + "\npermit (principal, action, resource) when {")


def test_a_baseline_policy_without_a_stable_id_is_refused() -> None:
    with pytest.raises(InvalidPolicyConfiguration, match=r"needs an @id"):
        PolicyEngine(baseline=BASELINE + "\npermit (principal, action, resource);\n")


def test_a_baseline_repeating_an_id_is_refused() -> None:
    repeated = '@id("baseline.role.worker")\nforbid (principal, action, resource);\n'
    with pytest.raises(InvalidPolicyConfiguration, match="repeats its id"):
        PolicyEngine(baseline=BASELINE + "\n" + repeated)
