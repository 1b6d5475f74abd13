"""Every route that takes an identifier is tried with another tenant's real ones.

"Tenant isolation is a test suite, not a promise." A hand-picked list of
probes (tests/api/test_tenant_isolation_api.py) only guards the routes someone
remembered; this walk reads the routes from the app itself, so a route added
tomorrow is probed tomorrow, or this file fails until someone says why it
need not be (`EXEMPT`).

Tenant A (acme) really owns one of everything a path can name: a job that
ran and one still queued, its project, a user who is a project member and
in a group, an API key, a workload trust policy, an OIDC and a SAML identity
provider, two policy versions (one active, one awaiting approval), a key
ring of its project and an operator's pending request to crypto-shred it.
Tenant B (globex) holds a valid token of a tenant admin who has just passed
MFA, so every refusal is about isolation, not about a missing role or
second factor. Requests that take a JSON body send a *valid* one: an
invalid body is answered 422 before any authorisation runs, which would
prove nothing. For every route and method, B's request with A's real
identifiers must:

1. answer 404, exactly as the same request with made-up identifiers of the
   same shape does (status, problem ``type``, ``title`` and ``detail``) —
   never a 2xx, and never a 403 that would confirm the object exists;
2. leave nothing of A changed (A's admin re-reads A's objects afterwards);
   Where A's identifier is only in the body of a request to B's own tenant,
   B may be refused for reasons of its own (an operator-only action), but
   exactly as with made-up identifiers;
3. name none of A's identifiers (ids, e-mail addresses) in its answer. The
   404 problem body is ``type``, ``title``, ``status``, ``detail``,
   ``instance`` and ``request_id``; ``instance`` is the request's own path,
   so it holds the ids B typed and must be exactly that path. Every other
   field, and every response header, must name none of them.

That the route's own code refused B is shown, not assumed: the router
matched the route (its dependencies ran) and the answer is not 422, so
the body passed validation. Some routes refuse at the decision point (the
cross-tenant baseline); others (a job, a project under another tenant) at
the lookup that is confined to B's tenant, before any decision. Every
request with a body must have reached the decision point.

B is also tried with its *own* tenant or project in the path wherever one
of A's identifiers still remains in the path or the body (A's user in B's
group, a user of B's made a member of A's project): a container B owns must
not reach into A.

Public SSO routes keyed by a tenant's *name* and the worker-only lease
routes are not tenant-id-addressed; each is exempt for a stated reason and
its own property is tested here instead.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from httpx import Response

from qplane.api import deps
from qplane.bootstrap import Platform, build_platform
from qplane.config import Settings
from qplane.domain import ids
from qplane.policy.request import AccessRequest
from tests.api.conftest import (
    OPERATOR_EMAIL,
    OPERATOR_PASSWORD,
    InProcessWorker,
    TenantCtx,
    with_mfa,
)
from tests.api.policy_support import bundle, push, require_approval
from tests.api.test_jobs_api import run_leased_job, submit
from tests.identity.saml.idp import TestIdp, require_xmlsec

Route = tuple[str, str]  # (METHOD, path template), as the OpenAPI document names it

#: Routes with a path parameter that are deliberately not walked, each with its reason.
EXEMPT: Final[dict[Route, str]] = {
    ("GET", "/v1/sso/{tenant_name}/login"): (
        "public OIDC login keyed by tenant name (no token, no tenant id): "
        "test_public_sso_routes_answer_an_unknown_tenant_like_one_without_sso"
    ),
    ("GET", "/v1/saml/{tenant_name}/metadata"): (
        "public SAML SP metadata keyed by tenant name: "
        "test_public_sso_routes_answer_an_unknown_tenant_like_one_without_sso"
    ),
    ("GET", "/v1/saml/{tenant_name}/login"): (
        "public SAML login keyed by tenant name: "
        "test_public_sso_routes_answer_an_unknown_tenant_like_one_without_sso"
    ),
    ("POST", "/v1/saml/{tenant_name}/acs"): (
        "public SAML assertion consumer keyed by tenant name: "
        "test_public_sso_routes_answer_an_unknown_tenant_like_one_without_sso"
    ),
    ("POST", "/v1/jobs/{job_id}/archive"): (
        "its body is a recipient key, and the job lookup confined to B's tenant refuses "
        "before any decision, so the walk's 'a body reached the decision point' cannot hold: "
        "tests/api/test_job_archives.py::test_another_tenants_job_answers_like_a_missing_one"
    ),
    ("PUT", "/v1/tenants/{tenant_id}/projects/{project_id}/quotas"): (
        "the project lookup confined to B's tenant refuses before any decision, so the walk's "
        "'a body reached the decision point' cannot hold: tests/api/test_quotas_api.py::"
        "test_another_tenants_project_quota_answers_like_a_missing_project"
    ),
    ("DELETE", "/v1/tenants/{tenant_id}/reservations/{reservation_id}"): (
        "operators only: with B's own tenant in the path B is refused 403 before any lookup, "
        "whatever the reservation id: tests/api/test_reservations_api.py::"
        "test_a_tenant_cannot_reserve_and_cannot_cancel_a_reservation_real_or_made_up"
    ),
    ("POST", "/v1/backends/{backend}/windows"): (
        "keyed by a shared device's name, not a tenant's object; operators only: "
        "tests/api/test_reservations_api.py::test_only_operators_take_a_device_out_for_maintenance"
    ),
    ("GET", "/v1/backends/{backend}/calendar"): (
        "keyed by a shared device's name; every tenant may read it, and sees another tenant's "
        "reservation only as anonymous 'reserved' time: tests/api/test_reservations_api.py::"
        "test_a_tenant_sees_its_own_reservation_and_anothers_only_as_reserved"
    ),
    ("POST", "/internal/v1/leases/{lease_id}/start"): (
        "worker-only (internal audience): test_lease_routes_refuse_every_tenant_token"
    ),
    ("POST", "/internal/v1/leases/{lease_id}/heartbeat"): (
        "worker-only (internal audience): test_lease_routes_refuse_every_tenant_token"
    ),
    ("POST", "/internal/v1/leases/{lease_id}/result"): (
        "worker-only (internal audience): test_lease_routes_refuse_every_tenant_token"
    ),
    ("POST", "/internal/v1/leases/{lease_id}/failure"): (
        "worker-only (internal audience): test_lease_routes_refuse_every_tenant_token"
    ),
}

GROUP: Final = "approvers"
PASSWORD: Final = "member-password-1"
_PARAM: Final = re.compile(r"\{([^}]+)\}")


@pytest.fixture
def platform(tmp_path: Path, database_url: str) -> Iterator[Platform]:
    """The API tests' platform with legacy API keys on: A must own one for B to aim at."""
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        public_url="http://testserver",
        api_keys_enabled=True,
    )
    built = build_platform(settings)
    built.tenancy.ensure_operator(OPERATOR_EMAIL, OPERATOR_PASSWORD)
    yield built
    built.close()


# --- A's world ----------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    """What tenant A owns, by identifier, and the token of A's admin (recent MFA)."""

    admin: TenantCtx
    finished_job: str
    queued_job: str
    user_id: str
    user_email: str
    api_key: str
    trust_policy: str
    trust_principal: str
    oidc_provider: str
    saml_provider: str
    saml_metadata: str
    versions: tuple[int, ...]
    shred_request: str
    reservation: str

    @property
    def identifiers(self) -> frozenset[str]:
        """Everything that names one of A's objects; B must never read one back."""
        return frozenset(
            {
                self.admin.tenant_id,
                self.admin.project_id,
                self.admin.email,
                self.finished_job,
                self.queued_job,
                self.user_id,
                self.user_email,
                self.api_key,
                self.trust_policy,
                self.trust_principal,
                self.oidc_provider,
                self.saml_provider,
                self.shred_request,
                self.reservation,
            }
        )


def _created(response: Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


def build_world(
    client: TestClient,
    platform: Platform,
    worker: InProcessWorker,
    acme: TenantCtx,
    operator_headers: dict[str, str],
    idp_dir: Path,
) -> World:
    """Give tenant A one of every object a route's path can name, through the API."""
    admin = with_mfa(client, acme)
    tenant = f"/v1/tenants/{admin.tenant_id}"
    h = admin.headers

    finished = _created(submit(client, admin))["id"]
    assert run_leased_job(client, platform, worker) == finished
    queued = _created(submit(client, admin))["id"]

    user_email = "dev@acme.test"
    user = _created(
        client.post(
            f"{tenant}/users",
            json={
                "email": user_email,
                "password": PASSWORD,
                "roles": ["member"],
                "projects": [admin.project_id],
            },
            headers=h,
        )
    )["id"]
    _created(client.put(f"{tenant}/groups/{GROUP}/members/{user}", headers=h))

    key = _created(
        client.post(
            "/v1/api-keys", json={"project_id": admin.project_id, "name": "legacy-ci"}, headers=h
        )
    )
    trust = _created(
        client.post(
            f"/v1/projects/{admin.project_id}/trust-policies", json=_trust_policy_body(), headers=h
        )
    )
    oidc = _created(
        client.post(f"{tenant}/identity-providers", json=_oidc_provider_body(), headers=h)
    )
    require_xmlsec()
    saml_metadata = TestIdp("https://idp.acme.test", idp_dir).metadata
    saml = _created(
        client.post(f"{tenant}/saml-providers", json=_saml_provider_body(saml_metadata), headers=h)
    )

    active = push(client, admin, bundle(limit=30))["version"]
    require_approval(client, admin, True)
    pending = push(client, admin, bundle(limit=20, reason="tighter"))
    assert pending["status"] == "pending_approval", pending["status"]

    _created(client.post(f"{tenant}/keys/projects/{admin.project_id}", headers=h))
    shred = _created(  # an operator's request; a second operator would have to approve it
        client.post(
            f"{tenant}/keys/shred-requests",
            json={"project_id": admin.project_id, "reason": "offboarding"},
            headers=operator_headers,
        )
    )

    reservation = _created(  # dedicated device time, booked by an operator
        client.post(f"{tenant}/reservations", json=_reservation_body(), headers=operator_headers)
    )

    return World(
        admin=admin,
        finished_job=finished,
        queued_job=queued,
        user_id=user,
        user_email=user_email,
        api_key=key["id"],
        trust_policy=trust["id"],
        trust_principal=trust["principal_id"],
        oidc_provider=oidc["id"],
        saml_provider=saml["id"],
        saml_metadata=saml_metadata,
        versions=(active, pending["version"]),
        shred_request=shred["id"],
        reservation=reservation["id"],
    )


def tenant_view(
    client: TestClient, tenant: TenantCtx, operator_headers: dict[str, str]
) -> dict[str, Any]:
    """What *tenant*'s admin (and the operator) can list of the tenant."""
    base = f"/v1/tenants/{tenant.tenant_id}"
    reads = {
        "projects": f"{base}/projects",
        "users": f"{base}/users",
        "members": f"{base}/projects/{tenant.project_id}/members",
        "groups": f"{base}/groups",
        "api_keys": "/v1/api-keys",
        "trust_policies": f"/v1/projects/{tenant.project_id}/trust-policies",
        "identity_providers": f"{base}/identity-providers",
        "saml_providers": f"{base}/saml-providers",
        "policies": f"{base}/policies",
        "policy_settings": f"{base}/policy-settings",
        "jobs": f"/v1/projects/{tenant.project_id}/jobs",
        "keys": f"{base}/keys",
        "usage": f"{base}/usage",
        "reservations": f"{base}/reservations",
    }
    seen: dict[str, Any] = {}
    for name, url in reads.items():
        response = client.get(url, headers=tenant.headers)
        assert response.status_code == 200, (name, response.text)
        seen[name] = response.json()
    tenants = client.get("/v1/tenants", headers=operator_headers)
    assert tenants.status_code == 200, tenants.text
    seen["tenant"] = [t for t in tenants.json() if t["id"] == tenant.tenant_id]
    return seen


def snapshot(client: TestClient, world: World, operator_headers: dict[str, str]) -> dict[str, Any]:
    """Everything of A that a probe could change, as A's admin (and the operator) read it."""
    seen = tenant_view(client, world.admin, operator_headers)
    for name, url in {
        "finished_job": f"/v1/jobs/{world.finished_job}",
        "result": f"/v1/jobs/{world.finished_job}/result",
        "queued_job": f"/v1/jobs/{world.queued_job}",
    }.items():
        response = client.get(url, headers=world.admin.headers)
        assert response.status_code == 200, (name, response.text)
        seen[name] = response.json()
    return seen


# --- what B sends -------------------------------------------------------------------


def _trust_policy_body() -> dict[str, Any]:
    return {
        "name": "ci-main",
        "issuer": "https://token.actions.githubusercontent.com",
        "audience": "qplane",
        "conditions": [{"claim": "sub", "op": "eq", "value": "repo:acme/qml:ref:refs/heads/main"}],
        "roles": ["member"],
        "max_ttl_s": 300,
    }


def _oidc_provider_body() -> dict[str, Any]:
    return {
        "name": "corp",
        "issuer": "https://idp.acme.test",
        "client_id": "qplane",
        "client_secret": "a-client-secret-0123456789",
        "allowed_domains": ["acme.test"],
        "role_mappings": [{"claim": "groups", "value": "qplane-users", "roles": ["member"]}],
    }


def _reservation_body(days_ahead: int = 1) -> dict[str, Any]:
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=days_ahead)
    return {
        "backend": "emu_heavyhex_27",
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=1)).isoformat(),
        "reason": "dedicated time",
    }


def _saml_provider_body(metadata_xml: str) -> dict[str, Any]:
    return {
        "metadata_xml": metadata_xml,
        "allowed_domains": ["acme.test"],
        "role_mappings": [{"attribute": "groups", "value": "quantum-users", "role": "member"}],
    }


#: A valid JSON body for every walked route that takes one, built from A's world: the
#: request must get past FastAPI's validation (422) to reach the decision point.
BODIES: Final[dict[Route, Callable[[World], dict[str, Any]]]] = {
    ("PATCH", "/v1/tenants/{tenant_id}"): lambda _: {"timezone": "Europe/Berlin"},
    ("POST", "/v1/tenants/{tenant_id}/projects"): lambda _: {"name": "annexed"},
    ("POST", "/v1/tenants/{tenant_id}/users"): lambda a: {
        "email": "mole@acme.test",
        "password": PASSWORD,
        "roles": ["tenant_admin"],
        "projects": [a.admin.project_id],
    },
    ("POST", "/v1/tenants/{tenant_id}/identity-providers"): lambda _: (
        _oidc_provider_body() | {"name": "rogue"}
    ),
    ("PATCH", "/v1/tenants/{tenant_id}/identity-providers/{provider_id}"): lambda _: {
        "issuer": "https://idp.globex.test",
        "client_secret": "a-stolen-secret-0123456789",
    },
    ("POST", "/v1/tenants/{tenant_id}/saml-providers"): lambda a: _saml_provider_body(
        a.saml_metadata
    ),
    ("POST", "/v1/projects/{project_id}/trust-policies"): lambda _: (
        _trust_policy_body() | {"name": "rogue"}
    ),
    ("POST", "/v1/tenants/{tenant_id}/policies/explain"): lambda a: {
        "principal": a.user_id,
        "action": "job.read",
        "resource": f"job:{a.finished_job}",
    },
    ("POST", "/v1/tenants/{tenant_id}/policies"): lambda _: bundle(limit=1, reason="rogue"),
    ("POST", "/v1/tenants/{tenant_id}/policies/test"): lambda _: {
        k: v for k, v in bundle(limit=1).items() if k != "reason"
    },
    ("PUT", "/v1/tenants/{tenant_id}/policy-settings"): lambda _: {"require_approval": False},
    ("POST", "/v1/tenants/{tenant_id}/keys/rotate"): lambda a: {"project_id": a.admin.project_id},
    ("POST", "/v1/tenants/{tenant_id}/keys/rewrap"): lambda a: {"project_id": a.admin.project_id},
    ("POST", "/v1/tenants/{tenant_id}/keys/retire"): lambda a: {
        "project_id": a.admin.project_id,
        "below_version": 2,
    },
    ("PUT", "/v1/tenants/{tenant_id}/quotas"): lambda _: {"running_jobs": 1, "plan": "premium"},
    ("POST", "/v1/tenants/{tenant_id}/reservations"): lambda _: _reservation_body(days_ahead=3),
    ("POST", "/v1/tenants/{tenant_id}/keys/shred-requests"): lambda a: {
        "project_id": a.admin.project_id,
        "reason": "rogue",
    },
}


def _provider(world: World, path: str) -> list[str]:
    """``{provider_id}`` names an OIDC or a SAML provider, depending on the route."""
    if "/identity-providers/" in path:
        return [world.oidc_provider]
    if "/saml-providers/" in path:
        return [world.saml_provider]
    raise AssertionError(f"{path}: which of A's providers does {{provider_id}} name?")


#: A's real value(s) for each path parameter; the route's path is given for names that
#: mean different objects on different routes. A group name and a version number are
#: labels inside a tenant, not identifiers: the made-up request keeps them as they are.
REAL_VALUES: Final[dict[str, Callable[[World, str], list[str]]]] = {
    "tenant_id": lambda a, _: [a.admin.tenant_id],
    "project_id": lambda a, _: [a.admin.project_id],
    "principal_id": lambda a, _: [a.user_id],
    "job_id": lambda a, _: [a.finished_job, a.queued_job],
    "key_id": lambda a, _: [a.api_key],
    "policy_id": lambda a, _: [a.trust_policy],
    "provider_id": _provider,
    "group": lambda _, __: [GROUP],
    "version": lambda a, _: [str(v) for v in a.versions],
    "request_id": lambda a, _: [a.shred_request],
}

#: Containers B owns. Each is also put in B's probes as B's own, with A's object below
#: it: B's tenant with A's provider, B's project with A's trust policy, and so on.
B_CONTAINERS: Final = ("tenant_id", "project_id")


@dataclass(frozen=True)
class Probe:
    """One request B makes: a route, the values in its path, and its JSON body (if any)."""

    method: str
    template: str
    values: tuple[tuple[str, str], ...]
    body: dict[str, Any] | None

    @property
    def path(self) -> str:
        values = dict(self.values)
        return _PARAM.sub(lambda m: values[m.group(1)], self.template)

    @property
    def text(self) -> str:
        """The path and body, where identifiers are looked for."""
        return self.path + json.dumps(self.body)

    def made_up(self, identifiers: frozenset[str]) -> Probe:
        """The same request with each of A's identifiers, in the path or the body, replaced
        by a fresh one of the same shape (same prefix) that names nothing."""
        fresh = {
            real: ids.new_id(real.partition("_")[0])
            for real in identifiers
            if ids.is_well_formed(real) and real in self.text
        }

        def swap(text: str) -> str:
            for real, ghost in fresh.items():
                text = text.replace(real, ghost)
            return text

        return Probe(
            self.method,
            self.template,
            tuple((name, swap(value)) for name, value in self.values),
            None if self.body is None else json.loads(swap(json.dumps(self.body))),
        )

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def probes(world: World, b: TenantCtx, routes: list[Route]) -> list[Probe]:
    """Every request B makes: A's real values in every combination, then again with
    B's own tenant/project in place of A's wherever one of A's identifiers still remains."""
    own = {"tenant_id": b.tenant_id, "project_id": b.project_id}
    made: list[Probe] = []
    for method, template in routes:
        names = _PARAM.findall(template)
        if any(name not in REAL_VALUES for name in names):
            continue  # the coverage test names it: the walk cannot aim at it yet
        body = BODIES[(method, template)](world) if (method, template) in BODIES else None
        choices = [REAL_VALUES[name](world, template) for name in names]
        for combo in itertools.product(*choices):
            values = dict(zip(names, combo, strict=True))
            made.append(Probe(method, template, tuple(values.items()), body))
            containers = [name for name in B_CONTAINERS if name in names]
            for n in range(1, len(containers) + 1):
                for mine in itertools.combinations(containers, n):
                    mixed = values | {name: own[name] for name in mine}
                    probe = Probe(method, template, tuple(mixed.items()), body)
                    if any(i in probe.text for i in world.identifiers) and probe not in made:
                        made.append(probe)
    return made


# --- the routes ---------------------------------------------------------------------


def app_routes(app: FastAPI) -> set[Route]:
    """Every (method, path) the app serves: its OpenAPI document and its routing table.

    The routing table also holds routes left out of the schema; newer FastAPI keeps
    included routers lazily, behind `iter_route_contexts`.
    """
    found = {(m.upper(), path) for path, ops in app.openapi()["paths"].items() for m in ops}
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: app.routes is already flat
        table: list[Any] = list(app.routes)
    else:
        table = list(iter_route_contexts(app.routes))
    for route in table:
        path, methods = getattr(route, "path", None), getattr(route, "methods", None)
        if isinstance(path, str) and methods:
            found |= {(method, path) for method in methods if method != "HEAD"}
    return found


def walked_routes(app: FastAPI) -> list[Route]:
    """The routes with a path parameter that are not exempt: every one of them is probed."""
    return sorted(r for r in app_routes(app) if _PARAM.search(r[1]) and r not in EXEMPT)


def _takes_a_body(app: FastAPI, route: Route) -> bool:
    method, path = route
    operation = app.openapi()["paths"].get(path, {}).get(method.lower(), {})
    return "requestBody" in operation


# --- checking one answer ------------------------------------------------------------


def _problem(response: Response) -> dict[str, Any] | None:
    if not response.headers.get("content-type", "").startswith("application/problem+json"):
        return None
    body: dict[str, Any] = response.json()
    return body


def _said(response: Response) -> str:
    body = _problem(response)
    if body is None:
        return f"{response.status_code} {response.text[:200]!r}"
    return f"{response.status_code} {body.get('type')} ({body.get('detail')})"


def _shape(response: Response) -> tuple[object, ...]:
    """What a caller can tell apart in a refusal: all but the per-request fields."""
    body = _problem(response) or {}
    return (
        response.status_code,
        body.get("type"),
        body.get("title"),
        body.get("detail"),
        sorted(body),
    )


def _difference(real: Response, made_up: Response) -> str:
    names = ("status", "type", "title", "detail", "fields")
    pairs = zip(names, _shape(real), _shape(made_up), strict=True)
    return "; ".join(f"{name} {a!r} vs {b!r}" for name, a, b in pairs if a != b)


def _leaks(probe: Probe, response: Response, identifiers: frozenset[str]) -> list[str]:
    """A's identifiers found in the answer anywhere but ``instance``, which must be the
    path B sent, exactly (it echoes B's own request, nothing looked up)."""
    found: list[str] = []
    body = _problem(response)
    if body is not None:
        if body.get("instance") != probe.path:
            found.append(f"instance is {body.get('instance')!r}, not the path sent")
        rest = json.dumps({k: v for k, v in body.items() if k != "instance"})
    else:
        rest = response.text
    headers = json.dumps(dict(response.headers))
    found += [f"{i} in the body" for i in sorted(identifiers) if i in rest]
    found += [f"{i} in the headers" for i in sorted(identifiers) if i in headers]
    return found


def _changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return [name for name in before if before[name] != after[name]]


@pytest.fixture
def decisions(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The actions the decision point decided, in order."""
    seen: list[str] = []
    real = platform.authorizer.decide

    def spy(uow: Any, request: AccessRequest) -> Any:
        seen.append(request.action.value)
        return real(uow, request)

    monkeypatch.setattr(platform.authorizer, "decide", spy)
    return seen


@pytest.fixture
def matched(client: TestClient) -> Iterator[list[str]]:
    """The route templates whose dependencies ran: the router matched the request.

    Together with an answer that is not 422, this shows the route's own code
    refused B (the router's 404 for an unknown path would prove nothing).
    """
    seen: list[str] = []

    def recording(request: Request) -> Platform:
        seen.append(str(getattr(request.scope.get("route"), "path", "")))
        return deps.platform(request)

    app = client.app
    assert isinstance(app, FastAPI)
    app.dependency_overrides[deps.platform] = recording
    yield seen
    app.dependency_overrides.pop(deps.platform)


def _send(client: TestClient, probe: Probe, headers: dict[str, str]) -> Response:
    return client.request(probe.method, probe.path, json=probe.body, headers=headers)


# --- the tests ----------------------------------------------------------------------


def test_b_is_answered_not_found_on_every_route_named_with_a_identifiers(
    client: TestClient,
    platform: Platform,
    acme: TenantCtx,
    globex: TenantCtx,
    worker: InProcessWorker,
    operator_headers: dict[str, str],
    decisions: list[str],
    matched: list[str],
    tmp_path: Path,
) -> None:
    world = build_world(client, platform, worker, acme, operator_headers, tmp_path / "idp-acme")
    b = with_mfa(client, globex)  # a tenant admin with a fresh second factor
    app = client.app
    assert isinstance(app, FastAPI)
    walk = probes(world, b, walked_routes(app))
    before = snapshot(client, world, operator_headers)
    # B must aim at objects A really has (a shred request is not listed: its 201 showed it).
    unseen = [i for i in world.identifiers - {world.shred_request} if i not in json.dumps(before)]
    assert unseen == []
    failures: list[str] = []

    for probe in walk:
        decisions.clear()
        matched.clear()
        answer = _send(client, probe, b.headers)
        decided, reached = list(decisions), list(matched)
        baseline = _send(client, probe.made_up(world.identifiers), b.headers)

        # A's identifier in the path: "not found". Only in the body of a request to B's own
        # tenant: B may be refused for its own reasons (403 for an operator-only action on
        # its own tenant), but exactly as it would be for made-up identifiers.
        in_path = any(i in probe.path for i in world.identifiers)
        if answer.status_code != 404 and (in_path or not 400 <= answer.status_code < 500):
            hint = " (is its body in BODIES valid?)" if answer.status_code == 422 else ""
            failures.append(f"{probe}: answered {_said(answer)}, not 404{hint}")
        elif _shape(answer) != _shape(baseline):
            failures.append(
                f"{probe}: answered unlike made-up ids ({_difference(answer, baseline)}); "
                "the difference tells B that A's object exists"
            )
        if reached != [probe.template]:
            failures.append(f"{probe}: never reached its route (matched {reached})")
        if probe.body is not None and not decided:
            failures.append(f"{probe}: its body was sent, but no decision was made")
        failures += [f"{probe}: leaks {leak}" for leak in _leaks(probe, answer, world.identifiers)]
        if probe.method != "GET":
            after = snapshot(client, world, operator_headers)
            if changed := _changes(before, after):
                failures.append(f"{probe}: changed A's {', '.join(changed)}")
                before = after

    b_view = json.dumps(tenant_view(client, b, operator_headers))
    failures += [f"B's own lists name A's {i}" for i in sorted(world.identifiers) if i in b_view]
    assert len(walk) > len(walked_routes(app))
    assert failures == [], "tenant isolation broken:\n" + "\n".join(failures)


def test_every_route_with_a_path_parameter_is_walked_or_exempt_for_a_reason(
    client: TestClient,
) -> None:
    app = client.app
    assert isinstance(app, FastAPI)
    routes = app_routes(app)
    with_parameters = {r for r in routes if _PARAM.search(r[1])}
    assert len(with_parameters) > 40, "the walk must see every route, not a few"

    walked = walked_routes(app)
    unwalkable = [
        f"{method} {path}: no way to get A's real {{{name}}}: add it to REAL_VALUES"
        for method, path in walked
        for name in _PARAM.findall(path)
        if name not in REAL_VALUES
    ]
    bodiless = [
        f"{method} {path}: takes a JSON body but BODIES has none (it would be refused 422, "
        "before any authorisation)"
        for method, path in walked
        if _takes_a_body(app, (method, path)) and (method, path) not in BODIES
    ]
    stale = [f"EXEMPT names {r}, which the app does not serve" for r in EXEMPT if r not in routes]
    stale += [f"BODIES names {r}, which is not walked" for r in BODIES if r not in walked]
    assert unwalkable + bodiless + stale == []
    assert all(reason.strip() for reason in EXEMPT.values())


def test_public_sso_routes_answer_an_unknown_tenant_like_one_without_sso(
    client: TestClient, acme: TenantCtx
) -> None:
    """Keyed by a tenant's name and open to anyone: an existing tenant without SSO must
    not be told apart from one that does not exist (the name is not confirmed)."""
    form = {"SAMLResponse": "PHNhbWxwOlJlc3BvbnNlLz4=", "RelayState": "relay-state-0123456789"}
    requests: list[tuple[str, str, dict[str, str] | None]] = [
        ("GET", "/v1/sso/{name}/login", None),
        ("GET", "/v1/saml/{name}/metadata", None),
        ("GET", "/v1/saml/{name}/login", None),
        ("POST", "/v1/saml/{name}/acs", form),
    ]
    assert {(m, p.replace("{name}", "{tenant_name}")) for m, p, _ in requests} == {
        r for r in EXEMPT if "{tenant_name}" in r[1]
    }
    for method, template, data in requests:
        answers = [
            client.request(method, template.format(name=name), data=data, follow_redirects=False)
            for name in ("acme", "no-such-tenant")
        ]
        existing, unknown = answers
        assert existing.status_code >= 400, (method, template, existing.text)
        assert _shape(existing) == _shape(unknown), (method, template)
        assert sorted(existing.headers) == sorted(unknown.headers), (method, template)
        assert "set-cookie" not in existing.headers, (method, template)
        assert "set-cookie" not in unknown.headers, (method, template)
        assert acme.tenant_id not in existing.text


def test_lease_routes_refuse_every_tenant_token(
    client: TestClient,
    acme: TenantCtx,
    globex: TenantCtx,
    worker: InProcessWorker,
) -> None:
    """The lease routes take a worker's token (internal audience) only. A tenant token,
    even that of the tenant whose job is leased, is refused as unauthenticated, and the
    lease is untouched: the worker still starts it."""
    job = submit(client, acme).json()["id"]
    lease = client.post("/internal/v1/leases", json={}, headers=worker.headers).json()
    assert lease["job_id"] == job
    bodies: dict[str, dict[str, str] | None] = {
        "start": None,
        "heartbeat": None,
        "result": {"result": "{}", "signature": "not-a-signature"},
        "failure": {"reason": "tenant says so"},
    }
    assert {("POST", f"/internal/v1/leases/{{lease_id}}/{step}") for step in bodies} == {
        r for r in EXEMPT if "{lease_id}" in r[1]
    }
    before = client.get(f"/v1/jobs/{job}", headers=acme.headers).json()
    for tenant in (acme, with_mfa(client, acme), with_mfa(client, globex)):
        for step, body in bodies.items():
            url = f"/internal/v1/leases/{lease['lease_id']}/{step}"
            refused = client.post(url, json=body, headers=tenant.headers)
            assert refused.status_code == 401, (step, refused.text)
            assert _shape(refused)[1] == "https://qplane.dev/problems/unauthenticated"
            assert job not in refused.text
    assert client.get(f"/v1/jobs/{job}", headers=acme.headers).json() == before
    started = client.post(f"/internal/v1/leases/{lease['lease_id']}/start", headers=worker.headers)
    assert started.status_code == 204, started.text
