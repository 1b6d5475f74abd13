"""The signing keys of external OpenID Connect issuers, discovered and cached.

`IssuerKeys.key_for(issuer, kid)` answers the issuer's public key named
*kid*. Keys come from the issuer's discovery document
(``{issuer}/.well-known/openid-configuration`` → ``jwks_uri``); they are
cached for ``ttl_s`` and re-fetched when a token names an unknown ``kid``
(key rotation), at most once per ``min_refresh_s`` per issuer so that
tokens with made-up ``kid`` values cannot make qplane hammer an issuer.

Security properties: only issuers named by a trust policy are ever fetched
(the caller checks before asking), the discovery document must name the same
issuer, ``jwks_uri`` must be https (plain http only for loopback issuers
when `allow_http_loopback` — a test and development switch), responses are
size-limited, redirects are not followed, and keys that cannot sign with an
allowed algorithm (RSA under 2048 bits, symmetric keys, private members)
are dropped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey

from qplane.domain.errors import Unauthenticated

PublicKey = RSAKey | ECKey | OKPKey
_MAX_DOCUMENT_BYTES: Final = 256 * 1024
_PUBLIC_MEMBERS: Final = {
    "RSA": ("kty", "n", "e"),
    "EC": ("kty", "crv", "x", "y"),
    "OKP": ("kty", "crv", "x"),
}


@dataclass
class _Cached:
    keys: dict[str, PublicKey]
    fetched_at: float


class IssuerKeys:
    """A per-issuer cache of JWKS keys, shared by every request of this server."""

    def __init__(
        self,
        *,
        http: httpx.Client | None = None,
        ttl_s: float = 300.0,
        min_refresh_s: float = 10.0,
        allow_http_loopback: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http or httpx.Client(timeout=5.0, follow_redirects=False)
        self._ttl_s = ttl_s
        self._min_refresh_s = min_refresh_s
        self._allow_http_loopback = allow_http_loopback
        self._clock = clock
        self._cache: dict[str, _Cached] = {}
        self._lock = threading.Lock()

    def key_for(self, issuer: str, kid: str) -> PublicKey:
        """The issuer's key *kid*; `Unauthenticated` when the issuer does not publish it."""
        with self._lock:
            cached = self._cache.get(issuer)
            now = self._clock()
            stale = cached is None or now - cached.fetched_at > self._ttl_s
            unknown = cached is not None and kid not in cached.keys
            may_refresh = cached is None or now - cached.fetched_at >= self._min_refresh_s
            if stale or (unknown and may_refresh):
                cached = _Cached(self._fetch(issuer), now)
                self._cache[issuer] = cached
        assert cached is not None
        key = cached.keys.get(kid)
        if key is None:
            raise Unauthenticated("subject token signing key unknown")
        return key

    def _fetch(self, issuer: str) -> dict[str, PublicKey]:
        discovery = self._get_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
        if discovery.get("issuer") != issuer:
            raise Unauthenticated("issuer discovery document names another issuer")
        jwks_uri = discovery.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise Unauthenticated("issuer publishes no jwks_uri")
        return _keys(self._get_json(jwks_uri).get("keys"))

    def _get_json(self, url: str) -> dict[str, Any]:
        self._check_url(url)
        try:
            response = self._http.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError:
            raise Unauthenticated("issuer keys could not be fetched") from None
        if response.status_code != 200 or len(response.content) > _MAX_DOCUMENT_BYTES:
            raise Unauthenticated("issuer keys could not be fetched")
        try:
            body = response.json()
        except ValueError:
            raise Unauthenticated("issuer keys could not be fetched") from None
        if not isinstance(body, dict):
            raise Unauthenticated("issuer keys could not be fetched")
        return body

    def _check_url(self, url: str) -> None:
        parts = urlsplit(url)
        loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
        if parts.scheme == "https" or (
            parts.scheme == "http" and loopback and self._allow_http_loopback
        ):
            return
        raise Unauthenticated("issuer keys must be served over https")


def _keys(entries: object) -> dict[str, PublicKey]:
    keys: dict[str, PublicKey] = {}
    if not isinstance(entries, list):
        return keys
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        kid, kty = entry.get("kid"), entry.get("kty")
        if not isinstance(kid, str) or kty not in _PUBLIC_MEMBERS:
            continue
        public = {n: entry[n] for n in _PUBLIC_MEMBERS[kty] if isinstance(entry.get(n), str)}
        try:
            key = _import(kty, public)
        except (JoseError, ValueError, TypeError):
            continue
        if isinstance(key, RSAKey) and key.raw_value.key_size < 2048:
            continue
        keys[kid] = key
    return keys


def _import(kty: str, public: dict[str, str | list[str]]) -> PublicKey:
    if kty == "RSA":
        return RSAKey.import_key(public)
    if kty == "EC":
        return ECKey.import_key(public)
    return OKPKey.import_key(public)
