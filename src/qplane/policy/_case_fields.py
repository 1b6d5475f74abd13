"""Strict reading of one mapping in a policy case file.

Every getter checks the type it promises and every mapping refuses keys it
does not know, so a typo in a case (``expcet: deny``) is an error naming
the case, never a silently ignored field that makes a test pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from qplane.policy.errors import InvalidPolicyCase


class CaseFields:
    def __init__(self, data: object, case: str | None, where: str) -> None:
        if not isinstance(data, Mapping) or not all(isinstance(k, str) for k in data):
            raise InvalidPolicyCase(case, f"{where} must be a mapping")
        self._data: Mapping[str, object] = data
        self._case = case
        self._where = where
        self._read: set[str] = set()

    def fail(self, detail: str) -> InvalidPolicyCase:
        return InvalidPolicyCase(self._case, f"{self._where}: {detail}")

    def only(self, *keys: str) -> None:
        """Refuse keys outside *keys* now, before a missing field hides a misspelt one."""
        unknown = sorted(set(self._data) - set(keys))
        if unknown:
            raise self.fail(f"unknown field(s): {', '.join(unknown)}")

    def has(self, key: str) -> bool:
        return key in self._data

    def raw(self, key: str) -> object:
        self._read.add(key)
        return self._data.get(key)

    def text(self, key: str, default: str | None = None) -> str:
        value = self.raw(key)
        if value is None and default is not None:
            return default
        if not isinstance(value, str) or not value:
            raise self.fail(f"{key!r} must be a non-empty string")
        return value

    def optional_text(self, key: str) -> str | None:
        return self.text(key) if self.has(key) else None

    def integer(self, key: str, default: int | None = None) -> int:
        value = self.raw(key)
        if value is None and default is not None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"{key!r} must be an integer")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.raw(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.fail(f"{key!r} must be true or false")
        return value

    def texts(self, key: str) -> frozenset[str]:
        value = self.raw(key)
        if value is None:
            return frozenset()
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(f"{key!r} must be a list of strings")
        return frozenset(value)

    def moment(self, key: str, default: datetime) -> datetime:
        value = self.raw(key)
        if value is None:
            return default
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                raise self.fail(f"{key!r} must be an ISO 8601 date and time") from None
        if not isinstance(value, datetime) or value.utcoffset() is None:
            raise self.fail(f"{key!r} must be a date and time with an offset, such as ...Z")
        return value

    def nested(self, key: str) -> CaseFields:
        return CaseFields(self.raw(key), self._case, f"{self._where}.{key}")

    def optional_nested(self, key: str) -> CaseFields | None:
        return self.nested(key) if self.has(key) else None

    def items(self) -> Mapping[str, object]:
        """Every entry, for a mapping whose keys are names (backends, groups)."""
        self._read.update(self._data)
        return self._data

    def merged_over(self, defaults: CaseFields | None) -> CaseFields:
        """These fields, with *defaults* filling what they leave out."""
        if defaults is None:
            return self
        return CaseFields({**defaults._data, **self._data}, self._case, self._where)

    def done(self) -> None:
        """Refuse any key that no getter read."""
        unknown = sorted(set(self._data) - self._read)
        if unknown:
            raise self.fail(f"unknown field(s): {', '.join(unknown)}")
