"""The entity uids a policy names, found by walking its Cedar JSON form.

Walking the parsed policy (not its text) means a uid cannot hide in a
string, a comment or an unusual spacing: whatever Cedar would evaluate is
what we see. Uids appear in the scope (``principal == …``, ``resource in
…``, ``is … in …``, action lists) and as literals in conditions
(``{"__entity": …}``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from qplane.policy.entities import JsonValue

_SCOPES = ("principal", "action", "resource")


def referenced_uids(est: Mapping[str, JsonValue]) -> Iterator[Mapping[str, JsonValue]]:
    """Yield every entity uid (``{"type": …, "id": …}``) the policy *est* mentions."""
    for scope in _SCOPES:
        constraint = est.get(scope)
        if isinstance(constraint, dict):
            yield from _scope_uids(constraint)
    for condition in _as_list(est.get("conditions")):
        if isinstance(condition, dict):
            yield from _literal_uids(condition.get("body"))


def _scope_uids(constraint: Mapping[str, JsonValue]) -> Iterator[Mapping[str, JsonValue]]:
    entity = constraint.get("entity")
    if isinstance(entity, dict):
        yield entity
    for item in _as_list(constraint.get("entities")):
        if isinstance(item, dict):
            yield item
    nested = constraint.get("in")  # `principal is T in X`
    if isinstance(nested, dict):
        yield from _scope_uids(nested)


def _literal_uids(node: JsonValue) -> Iterator[Mapping[str, JsonValue]]:
    if isinstance(node, list):
        for item in node:
            yield from _literal_uids(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "__entity" and isinstance(value, dict):
                yield value
            else:
                yield from _literal_uids(value)


def _as_list(value: JsonValue) -> list[JsonValue]:
    return value if isinstance(value, list) else []
