"""Password hashing for local accounts: argon2id via argon2-cffi.

Parameters are argon2-cffi's defaults, RFC 9106's second recommended
("low-memory") profile: argon2id, t=3, m=64 MiB, p=4, 16-byte salt,
32-byte tag. Hashes carry their parameters, so raising them later only
needs `needs_rehash` at the next successful login.

Security properties:

* `verify_password` compares in constant time (inside libargon2), never
  raises on a wrong password or a malformed hash, and returns False.
* Login takes the same time whether the account exists: for an unknown
  email (or an account without a password) callers verify against
  `DUMMY_HASH` (or pass None, which does so), which costs exactly as much
  as a real check.
"""

from __future__ import annotations

from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER: Final = PasswordHasher()

# An argon2id hash, with _HASHER's parameters, of a random password that was
# thrown away. Checking it costs what a real check costs; it never matches
# anything anyone knows. A test pins it to the current parameters.
DUMMY_HASH: Final = (
    "$argon2id$v=19$m=65536,t=3,p=4$hfiN+pM25cvG//fXnbzaVg"
    "$5ZLItqk/U4vzOOA+6RD6LrJwWad9Xp3jw7HIEbtCPdg"
)


def hash_password(password: str) -> str:
    """A fresh argon2id hash (random salt) of *password*, in PHC string format."""
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when *password* matches *password_hash*; False otherwise, never raising.

    Pass None (no account, or no password set) to spend the same time on
    `DUMMY_HASH` and get False.
    """
    if password_hash is None:
        _check(DUMMY_HASH, password)
        return False
    return _check(password_hash, password)


def needs_rehash(password_hash: str) -> bool:
    """True when the hash uses weaker parameters than today's (or is not argon2)."""
    try:
        return _HASHER.check_needs_rehash(password_hash)
    except (InvalidHashError, ValueError):
        return True


def _check(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError, ValueError):
        # VerifyMismatchError is a VerificationError: a wrong password.
        return False
