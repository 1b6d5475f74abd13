"""Every route needs a token unless it is on the short public list."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from qplane.api import route_access
from qplane.domain import ids

PUBLIC = route_access.PUBLIC


def _routes(client: TestClient) -> list[tuple[str, str]]:
    """Every operation the app publishes, read from its own OpenAPI document."""
    paths = client.get("/openapi.json").json()["paths"]
    return [(method.upper(), path) for path, ops in paths.items() for method in ops]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_non_public_route_refuses_a_request_without_a_token(client: TestClient) -> None:
    routes = _routes(client)
    assert len(routes) > 15
    for method, path in routes:
        if (method, path) in PUBLIC:
            continue
        concrete = re.sub(r"\{[^}]+\}", ids.new_id(ids.JOB), path)
        response = client.request(method, concrete, json={})
        assert response.status_code == 401, (method, path, response.status_code)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_public_list_names_only_real_routes(client: TestClient) -> None:
    assert set(_routes(client)) >= PUBLIC
