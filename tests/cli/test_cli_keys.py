"""``qplane keys`` against a live server: the hierarchy shown, a rotation, a two-operator shred."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.cli_harness import (
    OPERATOR_PASSWORD,
    Cli,
    LivePlatform,
    TenantSession,
    assert_one_line_error,
    enrol_mfa,
    first_id,
)

pytestmark = pytest.mark.e2e


def _flat(text: str) -> str:
    """Table cells wrap on narrow terminals; compare words, not layout."""
    return " ".join(text.split())


def test_keys_list_shows_what_each_ring_protects_and_no_material(acme: TenantSession) -> None:
    listing = _flat(acme.admin.ok("keys", "list").stdout)

    assert acme.tenant_id in listing
    assert "tenant" in listing
    assert "local" in listing
    assert "v1 active" in listing


def test_a_tenant_admin_rotates_with_a_second_factor(acme: TenantSession) -> None:
    enrol_mfa(acme.admin)

    rotated = _flat(acme.admin.ok("keys", "rotate").stdout)

    assert "v1 active, v2 active" in rotated


def test_a_shred_is_requested_by_one_operator_and_approved_by_another(
    live: LivePlatform,
    operator: Cli,
    globex: TenantSession,
    tmp_path: Path,
) -> None:
    requested = operator.ok(
        "keys", "shred", "--tenant", globex.tenant_id, "--reason", "offboarding globex"
    )
    request_id = first_id(requested.stdout, "shr")
    alone = operator("keys", "approve-shred", request_id)
    assert "second operator" in assert_one_line_error(alone)

    live.embedded.ensure_operator("ops2@qplane.test", OPERATOR_PASSWORD)
    second = Cli(tmp_path / "ops2")
    second.ok(
        "login", "--url", live.url, "--email", "ops2@qplane.test", "--password-stdin",
        input=OPERATOR_PASSWORD + "\n",
    )  # fmt: skip
    enrol_mfa(second)
    approved = _flat(second.ok("keys", "approve-shred", request_id).stdout)

    assert f"destroyed versions [1] of {globex.tenant_id}/*" in approved
    assert "shredded" in _flat(operator.ok("keys", "list", "--tenant", globex.tenant_id).stdout)
