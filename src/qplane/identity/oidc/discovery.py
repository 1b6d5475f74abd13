"""Issuer metadata and signing keys: discovered, cached, refreshed on an unknown ``kid``.

`IssuerDirectory` fetches ``{issuer}/.well-known/openid-configuration``
(OpenID Connect Discovery 1.0) and the ``jwks_uri`` it names, and caches both.

Security properties:

* The discovered ``issuer`` must equal the registered one exactly (Discovery
  §4.3), so a document served elsewhere cannot stand in for the IdP.
* Plain ``http`` issuers and endpoints are refused unless the operator set
  ``oidc_allow_http_issuers`` (loopback tests); redirects are never followed
  and answers are size-limited, which narrows what a tenant admin's issuer
  URL can make the control plane fetch.
* An unknown ``kid`` triggers one JWKS refetch (key rotation at the IdP), but
  at most once per ``min_refresh_s`` per issuer, so forged ``kid`` values
  cannot turn qplane into a request amplifier against the IdP.
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
from joserfc.jwk import KeySet

from qplane.domain.errors import Unauthenticated, ValidationFailed

MAX_DOCUMENT_BYTES: Final = 256 * 1024
_WELL_KNOWN: Final = "/.well-known/openid-configuration"
_UNAVAILABLE: Final = "identity provider unavailable"


@dataclass(frozen=True, slots=True)
class ProviderMetadata:
    """The parts of a discovery document qplane uses."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    token_endpoint_auth_methods: tuple[str, ...]
    id_token_algs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _CachedKeys:
    keys: KeySet
    kids: frozenset[str]
    fetched_at: float


def check_issuer_url(issuer: str, *, allow_http: bool) -> str:
    """The issuer URL, without a trailing slash, if it is acceptable; `ValidationFailed` if not."""
    parts = urlsplit(issuer.strip())
    allowed = {"https", "http"} if allow_http else {"https"}
    if parts.scheme not in allowed or not parts.hostname:
        raise ValidationFailed(f"issuer must be an {'/'.join(sorted(allowed))} URL", field="issuer")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValidationFailed(
            "issuer must not carry a query, fragment or userinfo", field="issuer"
        )
    return issuer.strip().rstrip("/")


class IssuerDirectory:
    """Thread-safe cache of issuer metadata and JWKS, shared by every login."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        allow_http: bool = False,
        metadata_ttl_s: float = 3600.0,
        min_refresh_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._allow_http = allow_http
        self._metadata_ttl_s = metadata_ttl_s
        self._min_refresh_s = min_refresh_s
        self._clock = clock
        self._lock = threading.Lock()
        self._metadata: dict[str, tuple[ProviderMetadata, float]] = {}
        self._keys: dict[str, _CachedKeys] = {}
        self._forced: dict[str, float] = {}

    @classmethod
    def with_timeout(cls, timeout_s: float, **options: Any) -> IssuerDirectory:
        client = httpx.Client(timeout=timeout_s, follow_redirects=False, trust_env=False)
        return cls(client, **options)

    @property
    def http(self) -> httpx.Client:
        """The client used for the IdP (token requests go through it too)."""
        return self._http

    def metadata(self, issuer: str) -> ProviderMetadata:
        """The issuer's discovery document, fetched at most once per TTL."""
        with self._lock:
            cached = self._metadata.get(issuer)
            if cached is not None and self._clock() - cached[1] < self._metadata_ttl_s:
                return cached[0]
        found = self._discover(issuer)
        with self._lock:
            self._metadata[issuer] = (found, self._clock())
        return found

    def keys_for(self, issuer: str, kid: str | None) -> KeySet:
        """The issuer's key set, refetched once when *kid* is unknown (rate limited)."""
        with self._lock:
            cached = self._keys.get(issuer)
            now = self._clock()
            if cached is not None and now - cached.fetched_at < self._metadata_ttl_s:
                if kid is None or kid in cached.kids:
                    return cached.keys
                # An unknown kid may be a rotation at the IdP: refetch, but rate limited.
                last = self._forced.get(issuer)
                if last is not None and now - last < self._min_refresh_s:
                    raise Unauthenticated("ID token signing key unknown")
                self._forced[issuer] = now
        fresh = self._fetch_keys(self.metadata(issuer).jwks_uri)
        with self._lock:
            self._keys[issuer] = fresh
        if kid is not None and kid not in fresh.kids:
            raise Unauthenticated("ID token signing key unknown")
        return fresh.keys

    def _discover(self, issuer: str) -> ProviderMetadata:
        document = self._get_json(issuer + _WELL_KNOWN)
        if document.get("issuer") != issuer:
            raise Unauthenticated("identity provider metadata names another issuer")
        try:
            found = ProviderMetadata(
                issuer=issuer,
                authorization_endpoint=self._endpoint(document["authorization_endpoint"]),
                token_endpoint=self._endpoint(document["token_endpoint"]),
                jwks_uri=self._endpoint(document["jwks_uri"]),
                token_endpoint_auth_methods=_strings(
                    document.get("token_endpoint_auth_methods_supported", ["client_secret_basic"])
                ),
                id_token_algs=_strings(
                    document.get("id_token_signing_alg_values_supported", ["RS256"])
                ),
            )
        except (KeyError, TypeError):
            raise Unauthenticated("identity provider metadata incomplete") from None
        return found

    def _fetch_keys(self, jwks_uri: str) -> _CachedKeys:
        document = self._get_json(jwks_uri)
        entries = document.get("keys")
        if not isinstance(entries, list):
            raise Unauthenticated("identity provider keys malformed")
        signing = [k for k in entries if isinstance(k, dict) and k.get("use", "sig") == "sig"]
        try:
            key_set = KeySet.import_key_set({"keys": signing})
        except (JoseError, ValueError, TypeError):
            raise Unauthenticated("identity provider keys malformed") from None
        kids = frozenset(str(k["kid"]) for k in signing if isinstance(k.get("kid"), str))
        return _CachedKeys(key_set, kids, self._clock())

    def _endpoint(self, value: object) -> str:
        if not isinstance(value, str):
            raise TypeError("endpoint is not a string")
        scheme = urlsplit(value).scheme
        if scheme != "https" and not (self._allow_http and scheme == "http"):
            raise Unauthenticated("identity provider endpoint is not https")
        return value

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = self._http.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError:
            raise Unauthenticated(_UNAVAILABLE) from None
        if response.status_code != 200 or len(response.content) > MAX_DOCUMENT_BYTES:
            raise Unauthenticated(_UNAVAILABLE)
        try:
            document = response.json()
        except ValueError:
            raise Unauthenticated(_UNAVAILABLE) from None
        if not isinstance(document, dict):
            raise Unauthenticated(_UNAVAILABLE)
        return document


def _strings(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise TypeError("expected a list")
    return tuple(item for item in value if isinstance(item, str))
