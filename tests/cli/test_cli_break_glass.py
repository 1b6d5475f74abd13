"""``qplane break-glass grant`` and ``qplane audit entries --platform / --tenant --elevation``
against a live server: the operator reads a tenant's log only under its elevation, and the
tenant sees the elevation and why in its own log."""

from __future__ import annotations

import re

import pytest

from tests.cli.cli_harness import Cli, TenantSession, assert_one_line_error

pytestmark = pytest.mark.e2e

REASON = "incident INC-7: acme asks who cancelled its jobs"


def _flat(text: str) -> str:
    """Table cells wrap; compare words, not layout."""
    return " ".join(text.split())


def _elevation(text: str) -> str:
    found = re.search(r"\belv_[0-9a-f]{32}\b", text)
    assert found is not None, text
    return found.group(0)


def test_an_operator_reads_a_tenants_log_only_under_break_glass(
    operator: Cli, acme: TenantSession
) -> None:
    refused = operator("audit", "entries", "--tenant", acme.tenant_id)
    assert "tenant not found" in assert_one_line_error(refused)

    granted = operator.ok("break-glass", "grant", acme.name, "--reason", REASON)
    elevation = _elevation(granted.stdout)
    assert f"--tenant {acme.tenant_id} --elevation {elevation}" in _flat(granted.stdout)

    read = operator.ok("audit", "entries", "--tenant", acme.tenant_id, "--elevation", elevation)
    assert "break_glass.granted" in read.stdout

    seen = _flat(acme.admin.ok("audit", "entries", "--action", "audit.search").stdout)
    assert elevation in seen
    assert REASON in seen


def test_an_operator_reads_the_platform_log(operator: Cli) -> None:
    operator.ok("audit", "entries", "--platform")
    again = operator.ok("audit", "entries", "--platform", "--action", "audit.search")
    assert "audit.search" in again.stdout  # the first read, recorded in the log it read


def test_an_elevation_needs_its_tenant(operator: Cli) -> None:
    refused = operator("audit", "entries", "--elevation", "elv_" + "0" * 32)
    assert "--elevation needs --tenant" in assert_one_line_error(refused)


def test_a_break_glass_grant_needs_a_reason(operator: Cli, acme: TenantSession) -> None:
    refused = operator("break-glass", "grant", acme.tenant_id, "--reason", "   ")
    assert "say why" in assert_one_line_error(refused)
