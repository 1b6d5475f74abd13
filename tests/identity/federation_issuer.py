"""An external OpenID Connect issuer on loopback, signing GitHub-Actions-style tokens.

It serves ``/.well-known/openid-configuration`` and ``/jwks`` over real HTTP
(``http.server`` in a thread) with RSA keys generated at test time, the way
``token.actions.githubusercontent.com`` does for CI jobs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

AUDIENCE = "https://qplane.test"
SUBJECT = "repo:acme/qml:ref:refs/heads/main"


class ExternalIssuer:
    def __init__(self) -> None:
        self.keys: list[RSAKey] = []
        self.jwks_requests = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.rotate()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def rotate(self) -> RSAKey:
        """Publish a new signing key (it signs from now on; older keys stay published)."""
        key = RSAKey.generate_key(2048, private=True)
        key.ensure_kid()
        self.keys.append(key)
        return key

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.url,
            "aud": AUDIENCE,
            "sub": SUBJECT,
            "repository": "acme/qml",
            "repository_owner": "acme",
            "ref": "refs/heads/main",
            "workflow": "ci",
            "event_name": "push",
            "jti": secrets.token_hex(16),
            "iat": now,
            "nbf": now,
            "exp": now + 300,
        }
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def token(
        self, *, key: RSAKey | None = None, header: dict[str, Any] | None = None, **claims: Any
    ) -> str:
        """A signed RS256 token; ``None`` for a claim leaves it out."""
        signer = key or self.keys[-1]
        protected = {"alg": "RS256", "typ": "JWT", "kid": signer.kid, **(header or {})}
        return jwt.encode(protected, self.claims(**claims), signer)

    def unsigned_token(self, alg: str, secret: bytes = b"", **claims: Any) -> str:
        """An attacker's token: ``alg`` none, or HS256 keyed with *secret* (the public key)."""
        header = {"alg": alg, "typ": "JWT", "kid": self.keys[-1].kid}
        payload = json.dumps(self.claims(**claims)).encode()
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(payload)}"
        if alg == "none":
            return signing_input + "."
        # joserfc rightly refuses to HMAC with a public key, so the attacker does it by hand.
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{_b64(mac)}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body: dict[str, Any]
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": issuer.url, "jwks_uri": issuer.url + "/jwks"}
                elif self.path == "/jwks":
                    issuer.jwks_requests += 1
                    body = {
                        "keys": [
                            {**key.as_dict(private=False), "alg": "RS256", "use": "sig"}
                            for key in issuer.keys
                        ]
                    }
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture
def external_issuer() -> Iterator[ExternalIssuer]:
    issuer = ExternalIssuer()
    yield issuer
    issuer.close()
