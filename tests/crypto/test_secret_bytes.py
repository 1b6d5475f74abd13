"""SecretBytes never shows its value by accident."""

from __future__ import annotations

import copy
import pickle

import pytest

from qplane.crypto import SecretBytes

VALUE = b"\x8f\x01super-secret-key-material\x02"


def test_textual_forms_hide_the_value() -> None:
    secret = SecretBytes(VALUE)
    for text in (repr(secret), str(secret), f"{secret}", f"{secret!r}", format(secret, "")):
        assert "super-secret" not in text
        assert VALUE.hex() not in text
        assert "redacted" in text


def test_value_is_only_read_through_reveal() -> None:
    assert SecretBytes(VALUE).reveal() == VALUE
    assert len(SecretBytes(VALUE)) == len(VALUE)


def test_cannot_be_pickled_or_copied() -> None:
    secret = SecretBytes(VALUE)
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    with pytest.raises(TypeError):
        copy.copy(secret)


def test_equality_by_value_and_unhashable() -> None:
    assert SecretBytes(VALUE) == SecretBytes(VALUE)
    assert SecretBytes(VALUE) != SecretBytes(b"other")
    assert SecretBytes(VALUE) != VALUE  # never equal to raw bytes
    with pytest.raises(TypeError):
        hash(SecretBytes(VALUE))
