"""The AEAD layer: authenticated, fresh, and silent about secrets on failure."""

from __future__ import annotations

import pytest

from qplane.crypto import _primitives
from qplane.crypto._aad import encode_aad
from qplane.domain.errors import IntegrityError


def test_round_trip_with_aad() -> None:
    key = _primitives.random_key()
    nonce, ciphertext = _primitives.encrypt(key, b"bell state", b"context")
    assert len(nonce) == _primitives.NONCE_BYTES
    assert _primitives.decrypt(key, nonce, ciphertext, b"context", what="x") == b"bell state"


def test_random_keys_are_32_bytes_and_distinct() -> None:
    first, second = _primitives.random_key(), _primitives.random_key()
    assert len(first) == len(second) == 32
    assert first != second


def test_wrong_aad_raises_integrity_error_naming_what_failed() -> None:
    key = _primitives.random_key()
    nonce, ciphertext = _primitives.encrypt(key, b"secret circuit", b"aad-1")
    with pytest.raises(IntegrityError) as caught:
        _primitives.decrypt(key, nonce, ciphertext, b"aad-2", what="artifact ciphertext")
    message = str(caught.value)
    assert message.startswith("artifact ciphertext failed to verify")
    assert "secret circuit" not in message
    assert key.reveal().hex() not in message
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_wrong_key_fails() -> None:
    nonce, ciphertext = _primitives.encrypt(_primitives.random_key(), b"x", b"")
    with pytest.raises(IntegrityError):
        _primitives.decrypt(_primitives.random_key(), nonce, ciphertext, b"", what="x")


@pytest.mark.parametrize("nonce", [b"", b"\x00" * 11, b"\x00" * 13])
def test_malformed_nonce_fails_as_integrity_error(nonce: bytes) -> None:
    key = _primitives.random_key()
    _, ciphertext = _primitives.encrypt(key, b"x", b"")
    with pytest.raises(IntegrityError, match="malformed nonce"):
        _primitives.decrypt(key, nonce, ciphertext, b"", what="x")


def test_truncated_ciphertext_fails() -> None:
    key = _primitives.random_key()
    nonce, ciphertext = _primitives.encrypt(key, b"payload", b"")
    for cut in (0, 1, len(ciphertext) - 1):
        with pytest.raises(IntegrityError):
            _primitives.decrypt(key, nonce, ciphertext[:cut], b"", what="x")


def test_wrap_and_unwrap_key() -> None:
    kek, data_key = _primitives.random_key(), _primitives.random_key()
    wrapped = _primitives.wrap_key(kek, data_key, b"binding")
    assert len(wrapped) == _primitives.WRAPPED_KEY_BYTES
    assert data_key.reveal() not in wrapped
    assert _primitives.unwrap_key(kek, wrapped, b"binding", what="k") == data_key
    with pytest.raises(IntegrityError, match="malformed wrapped key"):
        _primitives.unwrap_key(kek, wrapped[:-1], b"binding", what="k")
    with pytest.raises(IntegrityError, match="malformed wrapped key"):
        _primitives.unwrap_key(kek, b"\x02" + wrapped[1:], b"binding", what="k")


def test_key_sizes_other_than_256_bits_are_refused() -> None:
    with pytest.raises(ValueError, match="32"):
        _primitives.key_from_bytes(b"\x00" * 16)


def test_aad_encoding_is_unambiguous() -> None:
    assert encode_aad("l", "ab", "c") != encode_aad("l", "a", "bc")
    assert encode_aad("l", "1") != encode_aad("l", 1)
    assert encode_aad("l", b"x") != encode_aad("l", "x")
    assert encode_aad("l1", "x") != encode_aad("l", "1x")
    assert encode_aad("l", "a", "") != encode_aad("l", "a")
    with pytest.raises(TypeError):
        encode_aad("l", True)
