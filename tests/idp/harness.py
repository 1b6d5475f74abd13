"""A real OpenID provider (node ``oidc-provider``) on loopback, and a browser to walk it.

`OidcTestProvider.start` runs ``node tests/idp/idp.mjs`` with the clients and
users given, waits for its ``READY <issuer>`` line and stops it afterwards.
Without node or ``tests/idp/node_modules`` (``npm ci --prefix tests/idp``)
the tests skip locally but FAIL under ``CI=true``.

`Browser` follows redirects the way a browser does: qplane's login redirect,
the IdP's authorization endpoint, its login and consent forms (POSTed with
the IdP's cookies), back to qplane's callback.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from tests.requirements import unavailable

IDP_DIR: Final = Path(__file__).resolve().parent
SCRIPT: Final = IDP_DIR / "idp.mjs"
START_TIMEOUT_S: Final = 20.0
_FORM_ACTION: Final = re.compile(r'<form method="post" action="([^"]+)"')


def require_node_idp() -> str:
    """The node executable, or skip (locally) / fail (``CI=true``) when the IdP cannot run."""
    node = shutil.which("node")
    problem = None
    if node is None:
        problem = "node is not installed"
    elif not (IDP_DIR / "node_modules" / "oidc-provider").is_dir():
        problem = "oidc-provider is not installed (run: npm ci --prefix tests/idp)"
    if problem is None and node is not None:
        return node
    unavailable(f"the OIDC test IdP cannot start: {problem}", "the SSO tests")


@dataclass
class IdpUser:
    login: str
    password: str
    sub: str
    email: str
    groups: list[str] = field(default_factory=list)
    amr: list[str] = field(default_factory=lambda: ["pwd"])
    acr: str = "urn:test:acr:pwd"
    email_verified: bool = True


@dataclass
class IdpClient:
    client_id: str
    client_secret: str
    redirect_uri: str
    token_endpoint_auth_method: str = "client_secret_basic"

    def metadata(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "redirect_uris": [self.redirect_uri],
            "token_endpoint_auth_method": self.token_endpoint_auth_method,
        }


class OidcTestProvider:
    """One running IdP process; its issuer is ``http://127.0.0.1:<port>``."""

    __test__ = False

    def __init__(self, process: subprocess.Popen[str], issuer: str, users: list[IdpUser]) -> None:
        self._process = process
        self.issuer = issuer
        self.users = users

    @classmethod
    @contextmanager
    def running(
        cls, workdir: Path, clients: list[IdpClient], users: list[IdpUser]
    ) -> Iterator[OidcTestProvider]:
        node = require_node_idp()
        workdir.mkdir(parents=True, exist_ok=True)
        config = workdir / f"idp-{os.getpid()}-{id(clients)}.json"
        config.write_text(
            json.dumps(
                {"clients": [c.metadata() for c in clients], "users": [_user(u) for u in users]}
            )
        )
        process = subprocess.Popen(
            [node, str(SCRIPT), str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=IDP_DIR,
        )
        try:
            yield cls(process, _wait_ready(process), users)
        finally:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def rotate_keys(self) -> None:
        """From now on the IdP signs ID tokens with a new key (a ``kid`` qplane has not seen)."""
        httpx.post(self.issuer + "/__test/rotate-keys").raise_for_status()

    def set_users(self, users: list[IdpUser]) -> None:
        """Change the IdP's directory, e.g. move someone to another group."""
        self.users = users
        body = {"users": [_user(u) for u in users]}
        httpx.post(self.issuer + "/__test/users", json=body).raise_for_status()


def _user(user: IdpUser) -> dict[str, Any]:
    return dict(user.__dict__)


def _wait_ready(process: subprocess.Popen[str]) -> str:
    """Read the IdP's output until READY (or fail with what it printed)."""
    lines: list[str] = []
    found: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if line.startswith("READY "):
                found.append(line.split()[1])
                break

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(START_TIMEOUT_S)
    if not found:
        process.kill()
        pytest.fail("the OIDC test IdP did not start:\n" + "".join(lines))
    # Keep draining output so the IdP never blocks on a full pipe.
    threading.Thread(target=lambda: [None for _ in process.stdout or []], daemon=True).start()
    return found[0]


class Browser:
    """A user agent: qplane on one side (ASGI or HTTP), the IdP over real HTTP, cookies kept."""

    def __init__(self, qplane: httpx.Client, qplane_base: str) -> None:
        self.qplane = qplane
        self.base = qplane_base.rstrip("/")
        self.idp = httpx.Client(follow_redirects=False, timeout=10)

    def close(self) -> None:
        self.idp.close()

    def start(self, tenant: str, provider: str | None = None) -> httpx.Response:
        """qplane's answer to the login request (a redirect to the IdP when SSO is set up)."""
        params = {"provider": provider} if provider else None
        return self.qplane.get(f"/v1/sso/{tenant}/login", params=params, follow_redirects=False)

    def authorize(self, authorization_url: str, login: str, password: str) -> str:
        """Walk the IdP from *authorization_url* to the redirect back to qplane; return that URL."""
        response = self.idp.get(authorization_url)
        for _ in range(20):
            if response.is_redirect:
                target = urljoin(str(response.url), response.headers["location"])
                if target.startswith(self.base + "/"):
                    return target
                response = self.idp.get(target)
                continue
            assert response.status_code == 200, (response.status_code, response.text[:300])
            action = _FORM_ACTION.search(response.text)
            assert action is not None, response.text[:300]
            form = {"login": login, "password": password} if 'name="login"' in response.text else {}
            response = self.idp.post(urljoin(str(response.url), action.group(1)), data=form)
        raise AssertionError("too many redirects at the IdP")

    def callback_url(
        self, tenant: str, login: str, password: str, provider: str | None = None
    ) -> str:
        started = self.start(tenant, provider)
        assert started.status_code == 302, started.text
        return self.authorize(started.headers["location"], login, password)

    def deliver(self, callback_url: str) -> httpx.Response:
        """Follow the IdP's redirect back to qplane's callback."""
        parts = urlsplit(callback_url)
        return self.qplane.get(f"{parts.path}?{parts.query}")

    def login(
        self, tenant: str, login: str, password: str, provider: str | None = None
    ) -> httpx.Response:
        return self.deliver(self.callback_url(tenant, login, password, provider))
