"""`SecretBytes`: key material as a type that will not print itself.

Security property: ``repr``, ``str``, f-strings, logging and tracebacks of a
`SecretBytes` show only its length, never the value; it cannot be pickled or
copied by ``copy``; equality is constant-time; it is not hashable (so it
cannot end up as a dict key in some cache). The value is read only through
the explicit, grep-able `reveal()`.

Python cannot promise to wipe memory (bytes are immutable and the runtime
may copy them), so the protection here is against *accidental disclosure*;
lifetime is kept short by scoping, not by zeroisation.
"""

from __future__ import annotations

import hmac
from typing import Any, NoReturn, final


@final
class SecretBytes:
    """Secret bytes whose textual forms are redacted."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        self._value = bytes(value)

    def reveal(self) -> bytes:
        """The secret itself. Call only where a primitive needs the bytes."""
        return self._value

    def __len__(self) -> int:
        return len(self._value)

    def __repr__(self) -> str:
        return f"SecretBytes(<{len(self._value)} bytes redacted>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SecretBytes):
            return NotImplemented
        return hmac.compare_digest(self._value, other._value)

    # Defining __eq__ without __hash__ leaves the class unhashable, on purpose.

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError("SecretBytes cannot be pickled or copied")
