"""A CI pipeline end to end: its OIDC token in, a DPoP-bound project token out, a job run.

The real server (uvicorn on loopback) and a real worker process; the external
issuer is a JWKS/discovery server on loopback signing GitHub-Actions-style
tokens; the pipeline speaks only through the SDK with a DPoP key.
"""

from __future__ import annotations

import httpx
import pyotp
import pytest

from qplane.sdk import QplaneAPIError, QplaneClient
from qplane.sdk.dpop import DPoPKey
from tests.api.conftest import BELL
from tests.e2e.conftest import OPERATOR_EMAIL, OPERATOR_PASSWORD, Starter
from tests.identity.federation_issuer import AUDIENCE, SUBJECT, ExternalIssuer
from tests.identity.federation_issuer import external_issuer as external_issuer

pytestmark = pytest.mark.e2e


def _stepped_up(url: str, email: str, password: str) -> httpx.Client:
    """An HTTP client for *email* after TOTP enrolment (privileged actions need recent MFA)."""
    http = httpx.Client(base_url=url, timeout=30)
    token = http.post("/v1/auth/login", json={"email": email, "password": password}).json()
    http.headers["Authorization"] = f"Bearer {token['access_token']}"
    secret = http.post("/v1/me/mfa/totp").json()["secret"]
    confirmed = http.post("/v1/me/mfa/totp/confirm", json={"code": pyotp.TOTP(secret).now()})
    assert confirmed.status_code == 200, confirmed.text
    http.headers["Authorization"] = f"Bearer {confirmed.json()['access_token']}"
    return http


def _ok(response: httpx.Response) -> dict[str, str]:
    assert response.is_success, response.text
    return dict(response.json())


def test_a_ci_pipeline_runs_a_job_with_a_bound_federated_token(
    start_platform: Starter, external_issuer: ExternalIssuer
) -> None:
    embedded = start_platform(workers=1, insecure_federation_http_issuers=True)
    operator = _stepped_up(embedded.url, OPERATOR_EMAIL, OPERATOR_PASSWORD)
    tenant = _ok(operator.post("/v1/tenants", json={"name": "acme"}))
    project = _ok(operator.post(f"/v1/tenants/{tenant['id']}/projects", json={"name": "qml"}))
    email, password = "admin@acme.test", "tenant-password-1"
    user = {"email": email, "password": password, "roles": ["tenant_admin"]}
    _ok(operator.post(f"/v1/tenants/{tenant['id']}/users", json=user))
    admin = _stepped_up(embedded.url, email, password)
    policy = {
        "name": "ci-main",
        "issuer": external_issuer.url,
        "audience": AUDIENCE,
        "conditions": [{"claim": "sub", "value": SUBJECT}],
        "roles": ["member"],
        "require_dpop": True,
    }
    _ok(admin.post(f"/v1/projects/{project['id']}/trust-policies", json=policy))

    with QplaneClient(embedded.url, dpop_key=DPoPKey.generate()) as pipeline:
        pipeline.exchange_token(external_issuer.token(), project["id"])
        job = pipeline.submit(project["id"], BELL, "aer_statevector", 200, seed=3)
        assert pipeline.wait(job["id"], timeout=120)["state"] == "verified"
        assert sum(pipeline.result(job["id"])["counts"].values()) == 200
        stolen = pipeline.token

    # Without the key, the stolen token is refused, as Bearer and as DPoP alike.
    with QplaneClient(embedded.url, stolen) as thief, pytest.raises(QplaneAPIError) as refused:
        thief.job(job["id"])
    assert refused.value.status == 401
    thief = QplaneClient(embedded.url, stolen, dpop_key=DPoPKey.generate())
    with thief, pytest.raises(QplaneAPIError) as refused:
        thief.job(job["id"])
    assert refused.value.status == 401
