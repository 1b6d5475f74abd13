"""OAuth 2.0 authorization-code plumbing, built with authlib (which is untyped: wrapped here).

Nothing here decides whether a login succeeds; it builds the authorization
request (PKCE S256, ``state``, ``nonce``) and performs the code exchange with
the client authentication the IdP advertises.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from qplane.crypto.secret_bytes import SecretBytes
from qplane.domain.errors import Unauthenticated

SCOPE: Final = "openid email profile"
_BASIC: Final = "client_secret_basic"
_POST: Final = "client_secret_post"


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """The redirect for the browser and the values the server keeps back."""

    url: str
    state: str
    nonce: str
    code_verifier: str


def authorization_request(endpoint: str, client_id: str, redirect_uri: str) -> AuthorizationRequest:
    """A fresh request: 256-bit ``state`` and ``nonce``, a 64-character PKCE verifier."""
    state, nonce, verifier = generate_token(43), generate_token(43), generate_token(64)
    url = prepare_grant_uri(
        endpoint,
        client_id,
        "code",
        redirect_uri=redirect_uri,
        scope=SCOPE,
        state=state,
        nonce=nonce,
        code_challenge=create_s256_code_challenge(verifier),
        code_challenge_method="S256",
    )
    return AuthorizationRequest(str(url), state, nonce, verifier)


def client_auth_method(registered: str | None, supported: tuple[str, ...]) -> str:
    """The registered method if the IdP offers it; unset: basic when offered, else post."""
    if registered is not None:
        if registered not in supported:
            raise Unauthenticated("identity provider does not offer the registered client auth")
        return registered
    if _BASIC in supported:
        return _BASIC
    if _POST in supported:
        return _POST
    raise Unauthenticated("identity provider offers no client-secret authentication")


def exchange_code(
    http: httpx.Client,
    *,
    token_endpoint: str,
    auth_method: str,
    client_id: str,
    client_secret: SecretBytes,
    code: str,
    redirect_uri: str,
    code_verifier: str,
) -> dict[str, Any]:
    """The IdP's token response; `Unauthenticated` if it refuses or answers nonsense."""
    body = prepare_token_request(
        "authorization_code", code=code, redirect_uri=redirect_uri, code_verifier=code_verifier
    )
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    auth = ClientAuth(client_id, client_secret.reveal().decode("utf-8"), auth_method)
    url, headers, body = auth.prepare("POST", token_endpoint, headers, body)
    try:
        response = http.post(url, headers=headers, content=body)
    except httpx.HTTPError:
        raise Unauthenticated("identity provider unavailable") from None
    if response.status_code != 200:
        raise Unauthenticated("identity provider refused the authorization code")
    try:
        answer = response.json()
    except ValueError:
        raise Unauthenticated("identity provider token response malformed") from None
    if not isinstance(answer, dict) or not isinstance(answer.get("id_token"), str):
        raise Unauthenticated("identity provider returned no ID token")
    return answer
