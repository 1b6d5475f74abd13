"""Every route asks the one decision point, and a route that forgets cannot answer.

Two halves: a walk over the app's own OpenAPI document calling each route
that is neither public nor self-service as a tenant admin (with a fresh
second factor, on real objects) and watching the decision point; and the
fail-closed guard, shown on a route added without any decision.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from qplane.api import route_access
from qplane.api.app import create_app
from qplane.bootstrap import Platform
from qplane.domain import ids
from qplane.policy.request import AccessRequest
from tests.api.conftest import BELL, TenantCtx, with_mfa

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _routes(client: TestClient) -> list[tuple[str, str]]:
    paths = client.get("/openapi.json").json()["paths"]
    return [(method.upper(), path) for path, ops in paths.items() for method in ops]


@pytest.fixture
def decisions(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The actions the platform's one Authorizer decided, in order."""
    seen: list[str] = []
    real = platform.authorizer.decide

    def spy(uow: Any, request: AccessRequest) -> Any:
        seen.append(request.action.value)
        return real(uow, request)

    monkeypatch.setattr(platform.authorizer, "decide", spy)
    return seen


def test_every_protected_route_reaches_the_decision_point(
    client: TestClient,
    platform: Platform,
    acme: TenantCtx,
    operator_headers: dict[str, str],
    decisions: list[str],
) -> None:
    admin = with_mfa(client, acme)
    job = client.post(
        "/v1/jobs",
        json={"project_id": acme.project_id, "source": BELL, "backend": "aer_statevector"},
        headers=admin.headers,
    ).json()
    me = client.get("/v1/me", headers=admin.headers).json()
    shred = client.post(
        f"/v1/tenants/{acme.tenant_id}/keys/shred-requests",
        json={"reason": "a real request for the walk"},
        headers=operator_headers,
    ).json()
    values = {
        "tenant_id": acme.tenant_id,
        "project_id": acme.project_id,
        "job_id": job["id"],
        "principal_id": me["id"],
        "group": "approvers",
        "version": "1",
        "request_id": shred["id"],
    }
    undecided: list[tuple[str, str, int]] = []
    checked = 0
    for method, path in _routes(client):
        if not route_access.needs_decision(method, path):
            continue
        concrete = re.sub(
            r"\{([^}]+)\}", lambda m: values.get(m.group(1), ids.new_id(ids.JOB)), path
        )
        decisions.clear()
        response = client.request(method, concrete, json={}, headers=admin.headers)
        assert response.status_code != 500, (method, path, response.text)
        checked += 1
        # 401: a route for another kind of credential (a worker's); 422: the body was
        # refused before any service ran. Everything else must have been decided.
        if not decisions and response.status_code not in (401, 422):
            undecided.append((method, path, response.status_code))
    assert checked > 40
    assert undecided == []


def test_a_route_that_forgets_to_authorise_cannot_answer(
    platform: Platform, acme: TenantCtx, client: TestClient
) -> None:
    router = APIRouter()

    @router.get("/v1/forgetful/{job_id}")
    def forgetful(job_id: str) -> dict[str, str]:
        return {"leaked": job_id}

    app = create_app(platform, run_sweeper=False)
    app.include_router(router)
    with TestClient(app) as guarded:
        response = guarded.get("/v1/forgetful/job_1", headers=acme.headers)

    assert response.status_code == 500
    assert "leaked" not in response.text
    assert response.headers["content-type"].startswith("application/problem+json")


def test_declared_routes_exist(client: TestClient) -> None:
    routes = set(_routes(client))
    assert routes >= route_access.PUBLIC
    declared = {r for r in route_access.SELF_SERVICE if not r[1].startswith(("/docs", "/redoc"))}
    assert declared - {("GET", "/openapi.json")} <= routes
