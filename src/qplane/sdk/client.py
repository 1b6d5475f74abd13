"""A small, typed Python client for the qplane API.

It speaks JSON over HTTPS (or loopback HTTP), turns every problem+json
answer into a `QplaneAPIError`, and never logs or echoes the access token.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, Final

import httpx

from qplane.sdk.errors import QplaneAPIError

FINISHED: Final = frozenset({"verified", "failed", "rejected", "cancelled", "retired"})
JSON = dict[str, Any]


class QplaneClient:
    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        verify: bool | str = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._http = httpx.Client(
            base_url=self.base_url, timeout=timeout, verify=verify, transport=transport
        )

    def __repr__(self) -> str:
        return f"QplaneClient({self.base_url!r}, token={'set' if self._token else 'unset'})"

    def __enter__(self) -> QplaneClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    @property
    def token(self) -> str | None:
        return self._token

    # -- authentication -------------------------------------------------
    def login(self, email: str, password: str) -> str:
        body = self._request("POST", "/v1/auth/login", {"email": email, "password": password})
        self._token = str(body["access_token"])
        return self._token

    def whoami(self) -> JSON:
        return self._request("GET", "/v1/me")

    # -- administration -------------------------------------------------
    def create_tenant(self, name: str, max_running_jobs: int = 4) -> JSON:
        return self._request(
            "POST", "/v1/tenants", {"name": name, "max_running_jobs": max_running_jobs}
        )

    def tenants(self) -> list[JSON]:
        return self._request_list("GET", "/v1/tenants")

    def create_project(self, tenant_id: str, name: str) -> JSON:
        return self._request("POST", f"/v1/tenants/{tenant_id}/projects", {"name": name})

    def projects(self, tenant_id: str) -> list[JSON]:
        return self._request_list("GET", f"/v1/tenants/{tenant_id}/projects")

    def create_user(
        self, tenant_id: str, email: str, password: str, roles: list[str] | None = None
    ) -> JSON:
        payload = {"email": email, "password": password, "roles": roles or ["member"]}
        return self._request("POST", f"/v1/tenants/{tenant_id}/users", payload)

    def register_worker(self, name: str, public_jwk: str, backends: list[str]) -> JSON:
        payload = {"name": name, "public_jwk": public_jwk, "backends": backends}
        return self._request("POST", "/v1/workers", payload)

    # -- jobs -----------------------------------------------------------
    def backends(self) -> list[JSON]:
        return self._request_list("GET", "/v1/backends")

    def submit(
        self,
        project_id: str,
        source: str,
        backend: str,
        shots: int = 1024,
        *,
        fmt: str = "qasm2",
        tags: list[str] | None = None,
        seed: int | None = None,
    ) -> JSON:
        payload: JSON = {
            "project_id": project_id,
            "source": source,
            "format": fmt,
            "backend": backend,
            "shots": shots,
            "tags": tags or [],
        }
        if seed is not None:
            payload["seed"] = seed
        return self._request("POST", "/v1/jobs", payload)

    def job(self, job_id: str) -> JSON:
        return self._request("GET", f"/v1/jobs/{job_id}")

    def jobs(
        self,
        project_id: str,
        states: list[str] | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> JSON:
        params: list[tuple[str, str | int]] = [("limit", limit)]
        params += [("state", s) for s in states or []]
        if cursor:
            params.append(("cursor", cursor))
        return self._request("GET", f"/v1/projects/{project_id}/jobs", params=params)

    def iter_jobs(self, project_id: str, states: list[str] | None = None) -> Iterator[JSON]:
        cursor: str | None = None
        while True:
            page = self.jobs(project_id, states, 200, cursor)
            yield from page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def cancel(self, job_id: str) -> JSON:
        return self._request("POST", f"/v1/jobs/{job_id}/cancel")

    def result(self, job_id: str) -> JSON:
        return self._request("GET", f"/v1/jobs/{job_id}/result")

    def wait(
        self,
        job_id: str,
        timeout: float = 300.0,
        poll_s: float = 0.05,
        on_update: Callable[[JSON], None] | None = None,
    ) -> JSON:
        """Poll until the job finishes; returns the final job. Raises TimeoutError."""
        deadline = time.monotonic() + timeout
        delay = poll_s
        while True:
            job = self.job(job_id)
            if on_update is not None:
                on_update(job)
            if job["state"] in FINISHED:
                return job
            if time.monotonic() >= deadline:
                raise TimeoutError(f"job {job_id} still {job['state']} after {timeout:.0f}s")
            time.sleep(delay)
            delay = min(delay * 1.5, 1.0)

    # -- audit ----------------------------------------------------------
    def audit_entries(self, **filters: str | int) -> JSON:
        params = [(k, v) for k, v in filters.items() if v is not None]
        return self._request("GET", "/v1/audit/entries", params=params)

    def audit_verify(self) -> JSON:
        return self._request("GET", "/v1/audit/verify")

    # -- plumbing -------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"} if self._token else {}

    def _send(
        self, method: str, path: str, payload: JSON | None, params: Any = None
    ) -> httpx.Response:
        response = self._http.request(
            method, path, json=payload, params=params, headers=self._headers()
        )
        if response.status_code >= 400:
            raise QplaneAPIError(response.status_code, _problem(response))
        return response

    def _request(
        self, method: str, path: str, payload: JSON | None = None, params: Any = None
    ) -> JSON:
        body = self._send(method, path, payload, params).json()
        if not isinstance(body, dict):
            raise QplaneAPIError(502, {"title": "Unexpected response", "detail": path})
        return body

    def _request_list(self, method: str, path: str) -> list[JSON]:
        body = self._send(method, path, None).json()
        if not isinstance(body, list):
            raise QplaneAPIError(502, {"title": "Unexpected response", "detail": path})
        return body


def _problem(response: httpx.Response) -> JSON:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        return body
    return {
        "title": f"HTTP {response.status_code}",
        "status": response.status_code,
        "detail": response.reason_phrase,
    }
