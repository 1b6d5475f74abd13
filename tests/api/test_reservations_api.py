"""Reservations (dedicated device time), maintenance windows and device calendars over HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response

from qplane.domain import ids
from tests.api.conftest import TenantCtx, with_mfa

DEVICE = "emu_heavyhex_27"


def hours_ahead(hours: float) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + timedelta(hours=hours)


def reserve(
    client: TestClient,
    headers: dict[str, str],
    tenant_id: str,
    start_h: float,
    end_h: float,
    **overrides: Any,
) -> Response:
    body = {
        "backend": DEVICE,
        "starts_at": hours_ahead(start_h).isoformat(),
        "ends_at": hours_ahead(end_h).isoformat(),
        "reason": "dedicated time for a benchmark",
        **overrides,
    }
    return client.post(f"/v1/tenants/{tenant_id}/reservations", json=body, headers=headers)


def calendar(client: TestClient, tenant: TenantCtx, backend: str = DEVICE) -> dict[str, Any]:
    response = client.get(f"/v1/backends/{backend}/calendar", headers=tenant.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def listed(client: TestClient, tenant: TenantCtx) -> list[str]:
    response = client.get(f"/v1/tenants/{tenant.tenant_id}/reservations", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return [r["id"] for r in response.json()]


def test_an_operator_reserves_a_device_the_tenant_lists_it_and_it_is_cancelled(
    client: TestClient, acme: TenantCtx, operator_headers: dict[str, str]
) -> None:
    created = reserve(client, operator_headers, acme.tenant_id, 1, 3)
    assert created.status_code == 201, created.text
    reservation = created.json()
    assert (reservation["backend"], reservation["tenant_id"]) == (DEVICE, acme.tenant_id)
    assert listed(client, acme) == [reservation["id"]]

    url = f"/v1/tenants/{acme.tenant_id}/reservations/{reservation['id']}"
    cancelled = client.delete(url, headers=operator_headers)

    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["cancelled_at"] is not None
    assert listed(client, acme) == []
    assert client.delete(url, headers=operator_headers).status_code == 409


def test_an_overlapping_reservation_is_refused(
    client: TestClient, acme: TenantCtx, globex: TenantCtx, operator_headers: dict[str, str]
) -> None:
    assert reserve(client, operator_headers, acme.tenant_id, 1, 3).status_code == 201

    clash = reserve(client, operator_headers, globex.tenant_id, 2, 4)

    assert clash.status_code == 409, clash.text
    assert listed(client, globex) == []
    assert reserve(client, operator_headers, globex.tenant_id, 3, 4).status_code == 201


def test_shared_capacity_and_bad_spans_cannot_be_reserved(
    client: TestClient, acme: TenantCtx, operator_headers: dict[str, str]
) -> None:
    shared = reserve(client, operator_headers, acme.tenant_id, 1, 2, backend="aer_statevector")
    backwards = reserve(client, operator_headers, acme.tenant_id, 2, 1)
    assert [shared.status_code, backwards.status_code] == [422, 422]
    assert (shared.json()["field"], backwards.json()["field"]) == ("backend", "ends_at")


def test_a_tenant_sees_its_own_reservation_and_anothers_only_as_reserved(
    client: TestClient, acme: TenantCtx, globex: TenantCtx, operator_headers: dict[str, str]
) -> None:
    own = reserve(client, operator_headers, acme.tenant_id, 1, 2).json()
    other = reserve(client, operator_headers, globex.tenant_id, 5, 6).json()

    seen = calendar(client, acme)

    assert [r["id"] for r in seen["reservations"]] == [own["id"]]
    assert [b["kind"] for b in seen["unavailable"]] == ["reserved"]
    [busy] = seen["unavailable"]
    assert sorted(busy) == ["ends_at", "kind", "starts_at"]
    span = [datetime.fromisoformat(busy[k]) for k in ("starts_at", "ends_at")]
    assert span == [datetime.fromisoformat(other[k]) for k in ("starts_at", "ends_at")]
    text = json.dumps(seen)
    assert other["id"] not in text
    assert globex.tenant_id not in text
    assert calendar(client, globex)["reservations"][0]["id"] == other["id"]


def test_a_tenant_cannot_reserve_and_cannot_cancel_a_reservation_real_or_made_up(
    client: TestClient, acme: TenantCtx, globex: TenantCtx, operator_headers: dict[str, str]
) -> None:
    """Reservations are the operators'. B under its own tenant is refused 403 before any
    lookup, exactly as for a made-up id; under A's tenant, 404 as for a made-up tenant."""
    b = with_mfa(client, globex)
    a_reservation = reserve(client, operator_headers, acme.tenant_id, 1, 2).json()["id"]
    assert reserve(client, b.headers, globex.tenant_id, 3, 4).status_code == 403

    def cancel(tenant_id: str, reservation_id: str) -> Response:
        url = f"/v1/tenants/{tenant_id}/reservations/{reservation_id}"
        return client.delete(url, headers=b.headers)

    ghost_id = ids.new_id(ids.RESERVATION)
    for tenant_id, status in ((globex.tenant_id, 403), (acme.tenant_id, 404)):
        real, made_up = cancel(tenant_id, a_reservation), cancel(tenant_id, ghost_id)
        if tenant_id == acme.tenant_id:
            made_up = cancel(ids.new_id(ids.TENANT), ghost_id)
        assert (real.status_code, made_up.status_code) == (status, status)
        assert real.json()["detail"] == made_up.json()["detail"]
        assert a_reservation not in real.json()["detail"]
    assert listed(client, acme) == [a_reservation]


def test_only_operators_take_a_device_out_for_maintenance(
    client: TestClient, acme: TenantCtx, operator_headers: dict[str, str]
) -> None:
    body = {"starts_at": hours_ahead(1).isoformat(), "ends_at": hours_ahead(2).isoformat()}
    admin = with_mfa(client, acme)
    refused = client.post(f"/v1/backends/{DEVICE}/windows", json=body, headers=admin.headers)
    assert refused.status_code == 403, refused.text
    assert calendar(client, acme)["unavailable"] == []

    created = client.post(f"/v1/backends/{DEVICE}/windows", json=body, headers=operator_headers)

    assert created.status_code == 201, created.text
    assert created.json()["kind"] == "maintenance"
    assert [b["kind"] for b in calendar(client, acme)["unavailable"]] == ["maintenance"]
    shared = client.post("/v1/backends/aer_mps/windows", json=body, headers=operator_headers)
    assert shared.status_code == 422
