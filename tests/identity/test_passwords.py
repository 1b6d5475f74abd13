"""Local-account passwords: argon2id, constant-time, no enumeration by timing."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from qplane.identity.passwords import DUMMY_HASH, hash_password, needs_rehash, verify_password

PASSWORD = "correct horse battery staple"

pytestmark = pytest.mark.usefixtures("real_password_hashing")


def test_hash_is_argon2id_and_round_trips() -> None:
    hashed = hash_password(PASSWORD)
    assert hashed.startswith("$argon2id$")
    assert PASSWORD not in hashed
    assert verify_password(hashed, PASSWORD)


def test_wrong_password_is_false_not_an_exception() -> None:
    hashed = hash_password(PASSWORD)
    assert not verify_password(hashed, PASSWORD + "!")
    assert not verify_password(hashed, "")


def test_salts_are_random() -> None:
    assert hash_password(PASSWORD) != hash_password(PASSWORD)


def test_malformed_hash_is_false_not_an_exception() -> None:
    for broken in ("", "plaintext", "$argon2id$v=19$m=1", "$2b$12$bcrypt-ish"):
        assert not verify_password(broken, PASSWORD)


def test_missing_account_checks_the_dummy_hash_and_fails() -> None:
    assert not verify_password(None, PASSWORD)
    assert not verify_password(DUMMY_HASH, PASSWORD)


def test_dummy_hash_costs_what_a_real_hash_costs() -> None:
    # Same algorithm and parameters as fresh hashes, so it takes as long to check.
    assert not needs_rehash(DUMMY_HASH)
    assert DUMMY_HASH.split("$")[:4] == hash_password(PASSWORD).split("$")[:4]


def test_weaker_or_foreign_hashes_need_rehash() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    assert verify_password(weak, PASSWORD)
    assert needs_rehash(weak)
    assert needs_rehash("not-a-hash")
    assert not needs_rehash(hash_password(PASSWORD))
