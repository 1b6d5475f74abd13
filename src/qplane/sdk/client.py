"""A small, typed Python client for the qplane API.

It speaks JSON over HTTPS (or loopback HTTP), turns every problem+json
answer into a `QplaneAPIError`, and never logs or echoes the access token.

Server certificates are always verified: against the usual CA bundle, or
against a private CA (a `qplane up --tls` local CA) given as *ca_file* or
in the ``QPLANE_CA_FILE`` environment variable.
"""

from __future__ import annotations

import os
import ssl
import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, Final

import httpx

from qplane.sdk.dpop import DPoPKey, token_is_bound
from qplane.sdk.errors import QplaneAPIError
from qplane.sdk.scheduling import SchedulingCalls

TOKEN_EXCHANGE: Final = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TOKEN_TYPE: Final = "urn:ietf:params:oauth:token-type:jwt"
DEVICE_GRANT: Final = "urn:ietf:params:oauth:grant-type:device_code"
DEVICE_CLIENT_ID: Final = "qplane-cli"
FINISHED: Final = frozenset({"verified", "failed", "rejected", "cancelled", "retired"})
JSON = dict[str, Any]
#: Environment variable naming a CA bundle to verify the server with (when none is given).
CA_FILE_ENV: Final = "QPLANE_CA_FILE"


class QplaneClient(SchedulingCalls):
    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        verify: bool | str | ssl.SSLContext = True,
        transport: httpx.BaseTransport | None = None,
        dpop_key: DPoPKey | None = None,
        ca_file: str | os.PathLike[str] | None = None,
    ) -> None:
        """With *dpop_key*, every request carries a DPoP proof (RFC 9449), and a
        bound token (one with ``cnf.jkt``) is sent with the ``DPoP`` scheme.

        TLS: *ca_file* (or a path as *verify*, or ``$QPLANE_CA_FILE`` when
        neither is given) is the CA bundle the server's certificate must chain
        to; else the usual bundle is used. ``verify=False`` turns checking off
        and is for throwaway experiments only.
        """
        self.base_url = base_url.rstrip("/")
        #: The CA bundle this client verifies the server with, if not the default one.
        self.ca_file = _ca_file(verify, ca_file)
        self._token = token
        self._dpop_key = dpop_key
        #: Called with (client, error) on an RFC 9470 step-up challenge; returning True
        #: (after `step_up`) retries the request once. The CLI prompts for a code here.
        self.on_step_up: Callable[[QplaneClient, QplaneAPIError], bool] | None = None
        self._bound = dpop_key is not None and token is not None and token_is_bound(token)
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            verify=ssl.create_default_context(cafile=self.ca_file) if self.ca_file else verify,
            transport=transport,
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
        return self._adopt(body)

    def exchange_token(self, subject_token: str, project_id: str) -> str:
        """Swap a workload's OIDC token (RFC 8693) for a platform token scoped to *project_id*.

        With a DPoP key the issued token is bound to it, and sent as ``DPoP`` from then on.
        """
        form = {
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": subject_token,
            "subject_token_type": JWT_TOKEN_TYPE,
            "audience": project_id,
        }
        request = self._http.build_request("POST", "/v1/oauth/token-exchange", data=form)
        body = self._checked(self._sign(request)).json()
        if not isinstance(body, dict):
            raise QplaneAPIError(502, {"title": "Unexpected response", "detail": "token exchange"})
        return self._adopt(body)

    def _adopt(self, body: JSON) -> str:
        self._token = str(body["access_token"])
        self._bound = str(body.get("token_type", "Bearer")).lower() == "dpop"
        return self._token

    def password_login(self, email: str, password: str) -> JSON:
        """Like `login`, but returns the whole token answer (with the refresh token).

        For an account with MFA this raises `QplaneAPIError` whose ``mfa_token``
        is set: pass it to `complete_mfa_login` with a code.
        """
        body = self._request("POST", "/v1/auth/login", {"email": email, "password": password})
        self._adopt(body)
        return body

    def complete_mfa_login(
        self, mfa_token: str, *, totp: str | None = None, recovery_code: str | None = None
    ) -> JSON:
        """Second login step (after an ``mfa-required`` answer); adopts and returns the tokens."""
        payload: JSON = {"mfa_token": mfa_token, "totp": totp, "recovery_code": recovery_code}
        body = self._request("POST", "/v1/auth/mfa", payload)
        self._adopt(body)
        return body

    def mfa_status(self) -> JSON:
        return self._request("GET", "/v1/me/mfa")

    def enrol_totp(self) -> JSON:
        """Start TOTP enrolment: ``secret`` and ``otpauth_uri``, shown this once."""
        return self._request("POST", "/v1/me/mfa/totp")

    def confirm_totp(self, code: str) -> JSON:
        """Activate TOTP; returns recovery codes and adopts the stepped-up session."""
        body = self._request("POST", "/v1/me/mfa/totp/confirm", {"code": code})
        self._adopt(body)
        return body

    def step_up(self, *, totp: str | None = None, recovery_code: str | None = None) -> JSON:
        """Answer an RFC 9470 challenge: a fresh MFA session, adopted and returned."""
        payload: JSON = {"totp": totp, "recovery_code": recovery_code}
        body = self._request("POST", "/v1/auth/step-up", payload)
        self._adopt(body)
        return body

    def start_device_login(self, client_id: str = DEVICE_CLIENT_ID) -> JSON:
        """RFC 8628 device authorization: device_code, user_code, verification_uri …"""
        request = self._http.build_request(
            "POST", "/v1/oauth/device_authorization", data={"client_id": client_id}
        )
        return self._json(self._checked(request))

    def poll_device_login(self, device_code: str, client_id: str = DEVICE_CLIENT_ID) -> JSON:
        """One token request; raises `QplaneAPIError` whose ``oauth_error`` is e.g.
        ``authorization_pending``; on success adopts and returns the tokens."""
        form = {"grant_type": DEVICE_GRANT, "device_code": device_code, "client_id": client_id}
        request = self._http.build_request("POST", "/v1/oauth/token", data=form)
        body = self._json(self._checked(request))
        self._adopt(body)
        return body

    def approve_device(self, user_code: str) -> None:
        self._send("POST", "/v1/oauth/device/approve", {"user_code": user_code})

    def deny_device(self, user_code: str) -> None:
        self._send("POST", "/v1/oauth/device/deny", {"user_code": user_code})

    def whoami(self) -> JSON:
        return self._request("GET", "/v1/me")

    # -- administration -------------------------------------------------
    def create_tenant(
        self, name: str, max_running_jobs: int = 4, *, timezone: str = "UTC", region: str = ""
    ) -> JSON:
        payload = {
            "name": name,
            "max_running_jobs": max_running_jobs,
            "timezone": timezone,
            "region": region,
        }
        return self._request("POST", "/v1/tenants", payload)

    def update_tenant(
        self, tenant_id: str, *, timezone: str | None = None, region: str | None = None
    ) -> JSON:
        payload: JSON = {}
        if timezone is not None:
            payload["timezone"] = timezone
        if region is not None:
            payload["region"] = region
        return self._request("PATCH", f"/v1/tenants/{tenant_id}", payload)

    def tenants(self) -> list[JSON]:
        return self._request_list("GET", "/v1/tenants")

    def create_project(self, tenant_id: str, name: str) -> JSON:
        return self._request("POST", f"/v1/tenants/{tenant_id}/projects", {"name": name})

    def projects(self, tenant_id: str) -> list[JSON]:
        return self._request_list("GET", f"/v1/tenants/{tenant_id}/projects")

    def create_user(
        self,
        tenant_id: str,
        email: str,
        password: str,
        roles: list[str] | None = None,
        projects: list[str] | None = None,
    ) -> JSON:
        payload = {
            "email": email,
            "password": password,
            "roles": roles or ["member"],
            "projects": projects or [],
        }
        return self._request("POST", f"/v1/tenants/{tenant_id}/users", payload)

    def project_members(self, tenant_id: str, project_id: str) -> list[JSON]:
        return self._request_list("GET", f"/v1/tenants/{tenant_id}/projects/{project_id}/members")

    def add_project_member(self, tenant_id: str, project_id: str, principal_id: str) -> JSON:
        path = f"/v1/tenants/{tenant_id}/projects/{project_id}/members/{principal_id}"
        return self._request("PUT", path)

    def remove_project_member(self, tenant_id: str, project_id: str, principal_id: str) -> None:
        path = f"/v1/tenants/{tenant_id}/projects/{project_id}/members/{principal_id}"
        self._send("DELETE", path, None, None)

    def register_worker(
        self, name: str, public_jwk: str, backends: list[str], *, region: str | None = None
    ) -> JSON:
        """Register a worker (operators); it runs in *region*, or its backends' one region."""
        payload: JSON = {"name": name, "public_jwk": public_jwk, "backends": backends}
        if region:
            payload["region"] = region
        return self._request("POST", "/v1/workers", payload)

    # -- workload identity federation -----------------------------------
    def create_trust_policy(
        self,
        project_id: str,
        name: str,
        issuer: str,
        audience: str,
        conditions: list[JSON],
        roles: list[str] | None = None,
        *,
        max_ttl_s: int = 600,
        require_dpop: bool = False,
    ) -> JSON:
        """Trust *issuer*'s tokens whose claims meet every condition ({claim, op, value})."""
        payload: JSON = {
            "name": name,
            "issuer": issuer,
            "audience": audience,
            "conditions": conditions,
            "roles": roles or ["member"],
            "max_ttl_s": max_ttl_s,
            "require_dpop": require_dpop,
        }
        return self._request("POST", f"/v1/projects/{project_id}/trust-policies", payload)

    def trust_policies(self, project_id: str) -> list[JSON]:
        return self._request_list("GET", f"/v1/projects/{project_id}/trust-policies")

    def delete_trust_policy(self, project_id: str, policy_id: str) -> None:
        self._send("DELETE", f"/v1/projects/{project_id}/trust-policies/{policy_id}", None)

    # -- tenant policies (Cedar) ----------------------------------------
    def explain_policy(
        self,
        tenant_id: str,
        principal: str,
        action: str,
        resource: str,
        *,
        mfa: bool = True,
        at: str | None = None,
    ) -> JSON:
        """The decision the live policies would give for a hypothetical request."""
        payload: JSON = {"principal": principal, "action": action, "resource": resource}
        payload["mfa"] = mfa
        if at is not None:
            payload["at"] = at
        return self._request("POST", f"/v1/tenants/{tenant_id}/policies/explain", payload)

    # -- keys ---------------------------------------------------------------------
    def key_rings(self, tenant_id: str) -> list[JSON]:
        """The tenant's key rings and versions (never key material)."""
        return self._request_list("GET", f"/v1/tenants/{tenant_id}/keys")

    def create_project_key_ring(self, tenant_id: str, project_id: str) -> JSON:
        return self._request("POST", f"/v1/tenants/{tenant_id}/keys/projects/{project_id}")

    def rotate_keys(
        self,
        tenant_id: str,
        project_id: str | None = None,
        customer_key: JSON | None = None,
    ) -> JSON:
        payload: JSON = {"project_id": project_id, "customer_key": customer_key}
        return self._request("POST", f"/v1/tenants/{tenant_id}/keys/rotate", payload)

    def rewrap_keys(self, tenant_id: str, project_id: str | None = None, limit: int = 500) -> int:
        payload: JSON = {"project_id": project_id, "limit": limit}
        body = self._request("POST", f"/v1/tenants/{tenant_id}/keys/rewrap", payload)
        return int(body["rewrapped"])

    def retire_keys(
        self, tenant_id: str, below_version: int, project_id: str | None = None
    ) -> JSON:
        payload: JSON = {"project_id": project_id, "below_version": below_version}
        return self._request("POST", f"/v1/tenants/{tenant_id}/keys/retire", payload)

    def request_key_shred(self, tenant_id: str, reason: str, project_id: str | None = None) -> JSON:
        payload: JSON = {"project_id": project_id, "reason": reason}
        return self._request("POST", f"/v1/tenants/{tenant_id}/keys/shred-requests", payload)

    def approve_key_shred(self, request_id: str) -> JSON:
        return self._request("POST", f"/v1/key-shred-requests/{request_id}/approve")

    def policy_versions(self, tenant_id: str) -> list[JSON]:
        """The tenant's policy versions, newest first (without their text)."""
        return self._request_list("GET", f"/v1/tenants/{tenant_id}/policies")

    def policy_version(self, tenant_id: str, version: int) -> JSON:
        """One version with its policies, cases, diff and test report."""
        return self._request("GET", f"/v1/tenants/{tenant_id}/policies/{version}")

    def push_policies(self, tenant_id: str, policies: str, cases: str, reason: str) -> JSON:
        """A new version; its ``status`` says active, pending_approval or tests_failed."""
        payload = {"policies": policies, "cases": cases, "reason": reason}
        return self._request("POST", f"/v1/tenants/{tenant_id}/policies", payload)

    def test_policies(self, tenant_id: str, policies: str, cases: str) -> JSON:
        """Validate and run the cases on the server, storing nothing; returns the report."""
        payload = {"policies": policies, "cases": cases}
        return self._request("POST", f"/v1/tenants/{tenant_id}/policies/test", payload)

    def approve_policy_version(self, tenant_id: str, version: int) -> JSON:
        return self._request("POST", f"/v1/tenants/{tenant_id}/policies/{version}/approve")

    def activate_policy_version(self, tenant_id: str, version: int) -> JSON:
        """Activate *version* (to an earlier one: roll back); its cases run again first."""
        return self._request("POST", f"/v1/tenants/{tenant_id}/policies/{version}/activate")

    def policy_settings(self, tenant_id: str) -> JSON:
        return self._request("GET", f"/v1/tenants/{tenant_id}/policy-settings")

    def set_policy_approval(self, tenant_id: str, required: bool) -> JSON:
        """Require (or not) a second tenant admin's approval before a version activates."""
        payload = {"require_approval": required}
        return self._request("PUT", f"/v1/tenants/{tenant_id}/policy-settings", payload)

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
        classification: str | None = None,
        priority: int | None = None,
        time_limit_s: int | None = None,
    ) -> JSON:
        """Submit a circuit. *priority* (0-9, default 5) orders your own jobs only;
        *time_limit_s* caps the run (default: the platform's)."""
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
        if classification is not None:
            payload["classification"] = classification
        if priority is not None:
            payload["priority"] = priority
        if time_limit_s is not None:
            payload["time_limit_s"] = time_limit_s
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

    def circuit(self, job_id: str) -> JSON:
        """The job's circuit source (``format``, ``source``): an artifact authorised on its own."""
        return self._request("GET", f"/v1/jobs/{job_id}/circuit")

    def log(self, job_id: str) -> str:
        """The job's execution log as text: an artifact authorised on its own."""
        return str(self._request("GET", f"/v1/jobs/{job_id}/log")["log"])

    def archive_job(self, job_id: str, recipient_public_key: str) -> bytes:
        """A verified job's archive file, sealed to *recipient_public_key* (a hybrid KEM
        public key PEM); open it with `qplane.crypto.job_archive.open_archive`."""
        payload = {"recipient_public_key": recipient_public_key}
        return self._send("POST", f"/v1/jobs/{job_id}/archive", payload).content

    def attestation_key(self) -> JSON:
        """The platform's public key for result attestations (``key_id``, ``public_key`` PEM);
        needs no token."""
        return self._request("GET", "/v1/attestation-key")

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

    def audit_export(self, format: str = "jsonl", **filters: str) -> Iterator[str]:
        """Your tenant's log as export lines (``qplane-audit-export/1``), streamed as they come.

        *format* is ``jsonl`` or ``ocsf``; *filters* are those of `audit_entries`
        (a filtered export is marked incomplete). Verify the lines offline with
        `qplane.audit.offline.verify_export`.
        """
        params: list[tuple[str, str | int | float | bool | None]] = [("format", format)]
        params.extend((k, v) for k, v in filters.items() if v is not None)
        request = self._http.build_request(
            "GET", "/v1/audit/export", params=params, headers=self._headers()
        )
        response = self._http.send(self._sign(request), stream=True)
        try:
            if response.status_code >= 400:
                response.read()
                raise QplaneAPIError(response.status_code, _problem(response))
            yield from (line for line in response.iter_lines() if line)
        finally:
            response.close()

    def audit_checkpoint(self, fresh: bool = False) -> JSON:
        """Your log's latest signed checkpoint (signed now when *fresh*): pin its ``note``."""
        return self._request("GET", "/v1/audit/checkpoint", params={"fresh": fresh})

    def audit_consistency(self, old_size: int, new_size: int | None = None) -> JSON:
        """The proof that the checkpoint of *new_size* (default: latest) extends *old_size*'s."""
        params: dict[str, int] = {"old_size": old_size}
        if new_size is not None:
            params["new_size"] = new_size
        return self._request("GET", "/v1/audit/proofs/consistency", params=params)

    def audit_keys(self) -> JSON:
        """The checkpoint verifier keys (``vkeys``) and origins; needs no token."""
        return self._request("GET", "/v1/audit/keys")

    # -- operators: the platform's audit log, and break-glass ----------
    def grant_elevation(self, tenant_id: str, reason: str, ttl_s: int | None = None) -> JSON:
        """Break-glass into *tenant_id*'s audit log (operators; needs a recent MFA)."""
        body: JSON = {"tenant_id": tenant_id, "reason": reason}
        if ttl_s is not None:
            body["ttl_s"] = ttl_s
        return self._request("POST", "/v1/platform/elevations", body)

    def tenant_audit_entries(
        self, tenant_id: str, elevation: str | None = None, **filters: str | int
    ) -> JSON:
        """A tenant's entries: your own tenant's, or (operators) under *elevation*."""
        params = [(k, v) for k, v in filters.items() if v is not None]
        if elevation is not None:
            params.append(("elevation", elevation))
        return self._request("GET", f"/v1/tenants/{tenant_id}/audit/entries", params=params)

    def platform_audit_entries(self, **filters: str | int) -> JSON:
        params = [(k, v) for k, v in filters.items() if v is not None]
        return self._request("GET", "/v1/platform/audit/entries", params=params)

    def platform_audit_verify(self) -> JSON:
        return self._request("GET", "/v1/platform/audit/verify")

    def platform_audit_checkpoint(self, *, fresh: bool = False) -> JSON:
        params = {"fresh": "true"} if fresh else None
        return self._request("GET", "/v1/platform/audit/checkpoint", params=params)

    # -- single sign-on (OIDC) ------------------------------------------
    def add_identity_provider(self, tenant_id: str, settings: JSON) -> JSON:
        """Register an OpenID provider; the client secret in *settings* is never sent back."""
        return self._request("POST", f"/v1/tenants/{tenant_id}/identity-providers", settings)

    def identity_providers(self, tenant_id: str) -> list[JSON]:
        return self._request_list("GET", f"/v1/tenants/{tenant_id}/identity-providers")

    def remove_identity_provider(self, tenant_id: str, provider_id: str) -> None:
        self._send("DELETE", f"/v1/tenants/{tenant_id}/identity-providers/{provider_id}", None)

    def sso_login_url(self, tenant_name: str, provider: str | None = None) -> str:
        """Where a browser starts this tenant's SSO login (the IdP's authorization URL)."""
        params = {"provider": provider} if provider else None
        response = self._http.get(f"/v1/sso/{tenant_name}/login", params=params)
        if response.status_code != 302:
            raise QplaneAPIError(response.status_code, _problem(response))
        return str(response.headers["location"])

    def adopt_tokens(self, body: JSON) -> str:
        """Use the token answer of a browser login (SSO callback) from now on."""
        return self._adopt(body)

    # -- plumbing -------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        if not self._token:
            return {}
        return {"Authorization": f"{'DPoP' if self._bound else 'Bearer'} {self._token}"}

    def _sign(self, request: httpx.Request) -> httpx.Request:
        """Add a one-time DPoP proof for exactly this method and URL (and bound token)."""
        if self._dpop_key is not None:
            token = self._token if self._bound else None
            request.headers["DPoP"] = self._dpop_key.proof(request.method, str(request.url), token)
        return request

    def _checked(self, request: httpx.Request) -> httpx.Response:
        response = self._http.send(request)
        if response.status_code == 401 and self.on_step_up is not None:
            refused = QplaneAPIError(401, _problem(response))
            # RFC 9470: re-authenticate with a second factor, then retry once.
            if refused.step_up_required and self.on_step_up(self, refused):
                request.headers.update(self._headers())
                response = self._http.send(self._sign(request))
        if response.status_code >= 400:
            raise QplaneAPIError(response.status_code, _problem(response))
        return response

    def _send(
        self, method: str, path: str, payload: JSON | None, params: Any = None
    ) -> httpx.Response:
        request = self._http.build_request(
            method, path, json=payload, params=params, headers=self._headers()
        )
        return self._checked(self._sign(request))

    def _json(self, response: httpx.Response) -> JSON:
        body = response.json()
        if not isinstance(body, dict):
            raise QplaneAPIError(502, {"title": "Unexpected response", "detail": str(response.url)})
        return body

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


def _ca_file(
    verify: bool | str | ssl.SSLContext, ca_file: str | os.PathLike[str] | None
) -> str | None:
    """The CA bundle to trust: *ca_file*, a path given as *verify*, else ``$QPLANE_CA_FILE``
    (only while *verify* is the default True: an explicit choice wins)."""
    if ca_file is not None:
        if verify is not True:
            raise ValueError("give either ca_file or verify, not both")
        return os.fspath(ca_file)
    if isinstance(verify, str):
        return verify
    if verify is True:
        return os.environ.get(CA_FILE_ENV) or None
    return None


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
