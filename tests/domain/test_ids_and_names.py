from __future__ import annotations

import pytest

from qplane.domain import ids
from qplane.domain.errors import ValidationFailed
from qplane.domain.tenancy import validate_email, validate_password, validate_slug


def test_ids_are_prefixed_random_and_unique() -> None:
    made = {ids.new_id(ids.JOB) for _ in range(1000)}
    assert len(made) == 1000
    assert all(ids.is_well_formed(i, ids.JOB) for i in made)
    assert not ids.is_well_formed(next(iter(made)), ids.TENANT)


@pytest.mark.parametrize("name", ["acme", "a", "team-42", "x" * 63])
def test_slugs_accept_dns_label_names(name: str) -> None:
    assert validate_slug(name, "name") == name


@pytest.mark.parametrize("name", ["", "Acme", "-acme", "acme-", "a b", "x" * 64, "../etc"])
def test_slugs_refuse_anything_else(name: str) -> None:
    with pytest.raises(ValidationFailed):
        validate_slug(name, "name")


def test_emails_are_case_folded_and_checked() -> None:
    assert validate_email("Ada@Example.COM") == "ada@example.com"
    with pytest.raises(ValidationFailed):
        validate_email("not-an-email")


def test_short_passwords_are_refused() -> None:
    with pytest.raises(ValidationFailed, match="at least 12"):
        validate_password("short")
