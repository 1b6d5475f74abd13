"""A break-glass grant admits one operator into one tenant, for a bounded, stated while."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from qplane.domain.elevation import (
    DEFAULT_TTL,
    MAX_REASON,
    BreakGlassGrant,
    check_reason,
    check_ttl,
)
from qplane.domain.errors import ValidationFailed

START = datetime(2025, 1, 8, 12, 0, tzinfo=UTC)
GRANT = BreakGlassGrant("elv_1", "usr_ops", "ten_acme", "incident", START, START + DEFAULT_TTL)


def test_a_grant_admits_its_operator_into_its_tenant_until_it_expires() -> None:
    assert GRANT.admits("usr_ops", "ten_acme", START)
    assert GRANT.admits("usr_ops", "ten_acme", START + DEFAULT_TTL - timedelta(microseconds=1))
    assert not GRANT.admits("usr_ops", "ten_acme", START + DEFAULT_TTL)
    assert not GRANT.admits("usr_ops", "ten_acme", START - timedelta(seconds=1))


@pytest.mark.parametrize(
    ("operator", "tenant"), [("usr_other", "ten_acme"), ("usr_ops", "ten_globex")]
)
def test_a_grant_is_never_lent_nor_widened(operator: str, tenant: str) -> None:
    assert not GRANT.admits(operator, tenant, START)


def test_the_reason_is_required_stripped_and_bounded() -> None:
    assert check_reason("  incident 42 \n") == "incident 42"
    assert check_reason("x" * MAX_REASON) == "x" * MAX_REASON
    for bad in ("", "   ", "x" * (MAX_REASON + 1)):
        with pytest.raises(ValidationFailed):
            check_reason(bad)


def test_the_life_defaults_to_an_hour_and_never_exceeds_the_maximum() -> None:
    assert check_ttl(None, timedelta(hours=4)) == timedelta(hours=1)
    assert check_ttl(None, timedelta(minutes=10)) == timedelta(minutes=10)
    assert check_ttl(timedelta(hours=4), timedelta(hours=4)) == timedelta(hours=4)
    for bad in (timedelta(0), timedelta(hours=4, seconds=1)):
        with pytest.raises(ValidationFailed):
            check_ttl(bad, timedelta(hours=4))
