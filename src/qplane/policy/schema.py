"""qplane's Cedar schema, parsed once and checked against the actions it must define.

The schema text ships inside the package (``schema.cedarschema``). A schema
that does not parse, or lacks an action the code can ask about, makes the
engine refuse to start: a request for a missing action would otherwise be
denied for a reason nobody could read in a policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.resources import files

import cedarpy

from qplane.policy.actions import Action
from qplane.policy.errors import InvalidPolicyConfiguration


@dataclass(frozen=True, slots=True)
class PolicySchema:
    text: str
    handle: cedarpy.Schema

    @classmethod
    def parse(cls, text: str) -> PolicySchema:
        """Parse *text*; raise `InvalidPolicyConfiguration` unless it is whole."""
        try:
            handle = cedarpy.Schema.from_str(text)
        except ValueError as error:
            raise InvalidPolicyConfiguration(f"the policy schema does not parse: {error}") from None
        _require_every_action(handle)
        return cls(text=text, handle=handle)

    @classmethod
    def shipped(cls) -> PolicySchema:
        """The schema packaged with qplane (parsed once per process)."""
        return _shipped_schema()


def shipped_text(name: str) -> str:
    """A policy resource packaged with qplane (``schema.cedarschema``, ``baseline.cedar``)."""
    return files("qplane.policy").joinpath(name).read_text(encoding="utf-8")


@cache
def _shipped_schema() -> PolicySchema:
    return PolicySchema.parse(shipped_text("schema.cedarschema"))


def _require_every_action(handle: cedarpy.Schema) -> None:
    probes = "\n".join(
        f'permit (principal, action == Qplane::Action::"{action.value}", resource);'
        for action in Action
    )
    result = cedarpy.validate_policies(probes, handle)
    if result.validation_passed:
        return
    actions = list(Action)
    missing = sorted(
        {actions[int(error.policy_id.removeprefix("policy"))].value for error in result.errors}
    )
    raise InvalidPolicyConfiguration(f"the policy schema lacks actions: {', '.join(missing)}")
