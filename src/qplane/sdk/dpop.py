"""Client side of DPoP (RFC 9449): a key that signs one proof per request.

`DPoPKey` holds an ES256 (P-256) private key in memory (or a 0600 PEM file).
Each `proof` is a fresh ``dpop+jwt`` over the request's method and URL (no
query or fragment), a random ``jti``, the current ``iat`` and, with an access
token, its hash ``ath``: a proof is good for one request only, so a stolen
token is useless without the key. Only the public key ever leaves the client.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import time
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit, urlunsplit

from joserfc import jws
from joserfc.jwk import ECKey

ALG: Final = "ES256"
_REGISTRY: Final = jws.JWSRegistry(algorithms=[ALG])


def token_is_bound(access_token: str) -> bool:
    """Whether *access_token* names a DPoP key (``cnf.jkt``); read, not verified.

    Only picks the scheme to send; the server verifies the token and the binding.
    """
    try:
        segment = access_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (IndexError, ValueError):
        return False
    return isinstance(claims, dict) and isinstance(claims.get("cnf"), dict)


class DPoPKey:
    """A client's proof-of-possession key; ``repr`` shows only its thumbprint."""

    __slots__ = ("_key",)

    def __init__(self, key: ECKey) -> None:
        if not key.is_private or key.curve_name != "P-256":
            raise ValueError("a DPoPKey is a P-256 private key")
        self._key = key

    def __repr__(self) -> str:
        return f"DPoPKey(jkt={self.jkt!r})"

    @classmethod
    def generate(cls) -> DPoPKey:
        return cls(ECKey.generate_key("P-256", private=True))

    @classmethod
    def load_or_create(cls, path: Path) -> DPoPKey:
        """The key in the PEM file *path*, created with mode 0600 if missing."""
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            pem = ECKey.generate_key("P-256", private=True).as_pem(private=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
        if path.stat().st_mode & 0o077:
            raise PermissionError(f"{path} is readable by others; chmod 600 it")
        return cls(ECKey.import_key(path.read_bytes()))

    @property
    def jkt(self) -> str:
        """The RFC 7638 thumbprint that bound tokens carry as ``cnf.jkt``."""
        return self._key.thumbprint()

    def proof(self, method: str, url: str, access_token: str | None = None) -> str:
        """A one-time proof for ``method url`` (bound to *access_token* when given)."""
        parts = urlsplit(url)
        claims: dict[str, str | int] = {
            "jti": secrets.token_urlsafe(16),
            "htm": method.upper(),
            "htu": urlunsplit((parts.scheme, parts.netloc, parts.path or "/", "", "")),
            "iat": int(time.time()),
        }
        if access_token is not None:
            digest = hashlib.sha256(access_token.encode("ascii")).digest()
            claims["ath"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
        header = {"typ": "dpop+jwt", "alg": ALG, "jwk": self._key.as_dict(private=False)}
        payload = json.dumps(claims, separators=(",", ":")).encode("utf-8")
        return jws.serialize_compact(header, payload, self._key, registry=_REGISTRY)
