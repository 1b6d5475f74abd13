"""A real qplane on loopback: HTTP server thread, worker processes, real database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from qplane.cli.login_flows import enrol_totp_unattended
from qplane.config import Settings
from qplane.embedded import EmbeddedPlatform
from qplane.sdk import QplaneClient

OPERATOR_EMAIL = "ops@qplane.test"
OPERATOR_PASSWORD = "operator-password-1"

Starter = Callable[..., EmbeddedPlatform]


@pytest.fixture
def start_platform(tmp_path: Path, database_url: str) -> Iterator[Starter]:
    """Start an embedded platform with the given settings overrides; stopped afterwards."""
    started: list[EmbeddedPlatform] = []

    def start(workers: int = 1, **overrides: object) -> EmbeddedPlatform:
        settings = Settings(
            data_dir=tmp_path / "data",
            database_url=database_url,
            port=0,
            sweep_interval_s=0.2,
            **overrides,  # type: ignore[arg-type]
        )
        embedded = EmbeddedPlatform(settings, workers=workers)
        embedded.start()
        started.append(embedded)
        embedded.ensure_operator(OPERATOR_EMAIL, OPERATOR_PASSWORD)
        return embedded

    yield start
    for embedded in started:
        embedded.stop()


def operator_client(embedded: EmbeddedPlatform) -> QplaneClient:
    """The operator, enrolled in TOTP and holding a fresh MFA session (step-up)."""
    client = QplaneClient(embedded.url)
    client.login(OPERATOR_EMAIL, OPERATOR_PASSWORD)
    enrol_totp_unattended(client)
    return client


def tenant_client(operator: QplaneClient, url: str, name: str) -> tuple[QplaneClient, str]:
    """Create tenant *name* with a project and an admin; return the admin's client and project."""
    tenant = operator.create_tenant(name)
    project = operator.create_project(tenant["id"], "main")
    email = f"admin@{name}.test"
    operator.create_user(tenant["id"], email, "tenant-password-1", ["tenant_admin", "member"])
    client = QplaneClient(url)
    client.login(email, "tenant-password-1")
    return client, str(project["id"])
