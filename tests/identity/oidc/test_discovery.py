"""Discovery and the JWKS cache, against an IdP played by httpx's MockTransport."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from joserfc.jwk import RSAKey

from qplane.domain.errors import Unauthenticated, ValidationFailed
from qplane.identity.oidc.discovery import IssuerDirectory, check_issuer_url

ISSUER = "https://idp.acme.test"


class FakeIdp:
    """Serves a discovery document and a JWKS whose key can be rotated; counts JWKS fetches."""

    def __init__(self, issuer: str = ISSUER) -> None:
        self.issuer = issuer
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
        self.jwks_fetches = 0

    def rotate(self, kid: str) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": kid}, private=True)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(
                200,
                json={
                    "issuer": self.issuer,
                    "authorization_endpoint": ISSUER + "/auth",
                    "token_endpoint": ISSUER + "/token",
                    "jwks_uri": ISSUER + "/jwks",
                },
            )
        if request.url.path == "/jwks":
            self.jwks_fetches += 1
            return httpx.Response(200, json={"keys": [self.key.as_dict(private=False)]})
        return httpx.Response(404)


def _directory(idp: FakeIdp, clock: Callable[[], float] = lambda: 0.0) -> IssuerDirectory:
    return IssuerDirectory(
        httpx.Client(transport=httpx.MockTransport(idp)), min_refresh_s=30, clock=clock
    )


def test_metadata_is_discovered_and_cached() -> None:
    idp = FakeIdp()
    directory = _directory(idp)
    metadata = directory.metadata(ISSUER)
    assert metadata.token_endpoint == ISSUER + "/token"
    assert metadata.token_endpoint_auth_methods == ("client_secret_basic",)
    assert directory.metadata(ISSUER) is metadata


def test_a_document_naming_another_issuer_is_refused() -> None:
    with pytest.raises(Unauthenticated, match="another issuer"):
        _directory(FakeIdp("https://evil.test")).metadata(ISSUER)


def test_an_unknown_kid_refreshes_the_jwks_once() -> None:
    idp = FakeIdp()
    now = [0.0]
    directory = _directory(idp, lambda: now[0])
    directory.keys_for(ISSUER, "k1")
    directory.keys_for(ISSUER, "k1")
    assert idp.jwks_fetches == 1

    idp.rotate("k2")
    now[0] = 1.0
    assert directory.keys_for(ISSUER, "k2") is not None
    assert idp.jwks_fetches == 2


def test_refreshes_for_unknown_kids_are_rate_limited() -> None:
    idp = FakeIdp()
    now = [0.0]
    directory = _directory(idp, lambda: now[0])
    directory.keys_for(ISSUER, "k1")
    with pytest.raises(Unauthenticated, match="unknown"):
        directory.keys_for(ISSUER, "forged-1")
    with pytest.raises(Unauthenticated, match="unknown"):
        directory.keys_for(ISSUER, "forged-2")
    assert idp.jwks_fetches == 2  # the first forged kid refetched once; the second did not

    now[0] = 31.0
    idp.rotate("k3")
    directory.keys_for(ISSUER, "k3")
    assert idp.jwks_fetches == 3


def test_an_unreachable_idp_is_refused() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    directory = IssuerDirectory(httpx.Client(transport=httpx.MockTransport(down)))
    with pytest.raises(Unauthenticated, match="unavailable"):
        directory.metadata(ISSUER)


@pytest.mark.parametrize(
    "url",
    [
        "http://idp.acme.test",
        "ftp://idp.acme.test",
        "https://",
        "https://idp?x=1",
        "https://u:p@idp",
    ],
)
def test_issuer_urls_must_be_plain_https(url: str) -> None:
    with pytest.raises(ValidationFailed):
        check_issuer_url(url, allow_http=False)


def test_http_issuers_are_accepted_only_when_allowed() -> None:
    assert check_issuer_url("http://127.0.0.1:9000/", allow_http=True) == "http://127.0.0.1:9000"
