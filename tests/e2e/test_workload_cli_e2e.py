"""`qplane trust` and `qplane workload login` against a real server and a real external issuer.

The tenant admin writes the trust policy with the CLI; the "pipeline" logs in
with its OIDC token and a DPoP key file, and later commands sign proofs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from qplane.cli import credentials
from qplane.config import Settings
from qplane.embedded import EmbeddedPlatform
from qplane.sdk.dpop import token_is_bound
from tests.cli.cli_harness import (
    OPERATOR_EMAIL,
    OPERATOR_PASSWORD,
    Cli,
    LivePlatform,
    assert_one_line_error,
    enrol_mfa,
    make_tenant,
)
from tests.identity.federation_issuer import AUDIENCE, SUBJECT, ExternalIssuer
from tests.identity.federation_issuer import external_issuer as external_issuer

pytestmark = pytest.mark.e2e


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LivePlatform]:
    settings = Settings(
        data_dir=tmp_path / "data",
        port=0,
        database_url=None,
        insecure_federation_http_issuers=True,
    )
    embedded = EmbeddedPlatform(settings, workers=0)
    embedded.start()
    try:
        embedded.ensure_operator(OPERATOR_EMAIL, OPERATOR_PASSWORD)
        yield LivePlatform(embedded, tmp_path / "data")
    finally:
        embedded.stop()


@dataclass
class _Pipeline(Cli):
    """`qplane` inside a CI job: its OIDC token and DPoP key come from the environment."""

    env: dict[str, str | None] = field(default_factory=dict)

    def __call__(self, *args: str, input: str | None = None) -> Result:
        from qplane.cli.main import app

        env = {"QPLANE_CONFIG_DIR": str(self.config_dir), "QPLANE_URL": None, **self.env}
        return CliRunner().invoke(app, list(args), input=input, env=env)


def test_an_admin_trusts_a_pipeline_which_then_works_with_a_bound_token(
    live: LivePlatform, external_issuer: ExternalIssuer, tmp_path: Path
) -> None:
    operator = Cli(tmp_path / "operator")
    operator.ok(
        "login", "--url", live.url, "--email", OPERATOR_EMAIL, "--password-stdin",
        input=OPERATOR_PASSWORD + "\n",
    )  # fmt: skip
    enrol_mfa(operator)
    acme = make_tenant("acme", operator, tmp_path / "acme", live)
    enrol_mfa(acme.admin)  # trust policies are privileged: step-up
    added = acme.admin.ok(
        "trust", "add", "--project", acme.project_id, "--name", "ci-main",
        "--issuer", external_issuer.url, "--audience", AUDIENCE,
        "--claim", f"sub={SUBJECT}", "--claim-glob", "repository=acme/*", "--require-dpop",
    )  # fmt: skip
    assert "trust policy tp_" in added.stdout
    listed = acme.admin.ok("trust", "list", "--project", acme.project_id).stdout
    assert "ci-main" in listed
    assert "required" in listed

    pipeline = _Pipeline(tmp_path / "pipeline")
    key_file = tmp_path / "pipeline-keys" / "dpop.pem"
    pipeline.env = {"QPLANE_OIDC_TOKEN": external_issuer.token(), "QPLANE_DPOP_KEY": str(key_file)}
    pipeline.ok("workload", "login", "--url", live.url, "--project", acme.project_id)
    assert key_file.stat().st_mode & 0o777 == 0o600
    stored = credentials.load(pipeline.config_dir / credentials.FILE_NAME)
    assert token_is_bound(stored.token)
    assert "service" in pipeline.ok("whoami").stdout  # a proof is signed for each request

    # Without the key, the stored (bound) token is refused.
    pipeline.env = {"QPLANE_DPOP_KEY": None}
    assert "DPoP" in assert_one_line_error(pipeline("whoami"))
    policy_id = added.stdout.split("trust policy ")[1].split()[0]
    acme.admin.ok("trust", "remove", "--project", acme.project_id, policy_id)
    assert "ci-main" not in acme.admin.ok("trust", "list", "--project", acme.project_id).stdout
