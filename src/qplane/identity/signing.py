"""The platform's token-signing keys (Ed25519) and the JWKS that publishes them.

Keys live in ``key_dir/signing/`` as ``ed25519-NNNN.pem`` files (mode 0600,
directory 0700, created atomically). The highest number is the *current*
key, which signs new tokens; every key on disk is published in the JWKS so
that tokens signed before a rotation keep verifying until their key file is
removed. Each key's ``kid`` is its RFC 7638 JWK thumbprint, so a kid names
exactly one public key and cannot be made to point at another.

Security properties: private keys are only ever in their 0600 files and in
memory; `jwks` and `public_key` hand out public keys only (no ``d``); a key
file that group or others can access is refused (`InsecureKeyFile`).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from joserfc.jwk import OKPKey

from qplane.identity import _jose

SIGNING_DIR: Final = "signing"
_FILE_PATTERN: Final = re.compile(r"^ed25519-(\d{4,})\.pem$")


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One Ed25519 signing key; ``private`` never leaves the identity package."""

    kid: str
    private: OKPKey = field(repr=False)
    public: OKPKey = field(repr=False)

    @classmethod
    def of(cls, key: OKPKey) -> SigningKey:
        public = _jose.import_public_jwk(_jose.public_jwk(key))
        return cls(kid=str(public.kid), private=key, public=public)


class SigningKeys:
    """The platform's signing keys, oldest first; the last one is current."""

    def __init__(self, keys: list[SigningKey], directory: Path | None = None) -> None:
        if not keys:
            raise ValueError("SigningKeys needs at least one key")
        self._keys = tuple(keys)
        self._directory = directory
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SigningKeys(kids={[key.kid for key in self._keys]!r})"

    @classmethod
    def load_or_create(cls, key_dir: Path) -> SigningKeys:
        """Load every key in ``key_dir/signing/``, creating the first if there is none."""
        directory = key_dir / SIGNING_DIR
        paths = _key_paths(directory) if directory.is_dir() else []
        if not paths:
            paths = [directory / _file_name(1)]
        return cls([SigningKey.of(_jose.load_or_create_pem(path)) for path in paths], directory)

    @classmethod
    def ephemeral(cls) -> SigningKeys:
        """One in-memory key that is never written anywhere (tests, one-shot tools)."""
        return cls([SigningKey.of(_jose.generate_key())])

    @property
    def current(self) -> SigningKey:
        """The key that signs new tokens."""
        return self._keys[-1]

    def public_key(self, kid: str) -> OKPKey | None:
        """The public key named *kid*, or None when no such key is held."""
        for key in self._keys:
            if key.kid == kid:
                return key.public
        return None

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The JSON Web Key Set of all held keys: public members, kid, alg, use."""
        return {"keys": [_jose.public_jwk(key.private) for key in self._keys]}

    def rotate(self) -> SigningKey:
        """Create the next key and make it current; older keys stay published.

        Other processes see the new key after their `reload`; until then
        they reject tokens it signs, so roll `reload` out before relying on it.
        """
        with self._lock:
            new = SigningKey.of(self._create_next())
            self._keys = (*self._keys, new)
            return new

    def reload(self) -> None:
        """Pick up keys that another process added to the directory."""
        if self._directory is None:
            return
        with self._lock:
            held = {key.kid for key in self._keys}
            loaded = [
                SigningKey.of(_jose.load_or_create_pem(p)) for p in _key_paths(self._directory)
            ]
            self._keys = (*self._keys, *(key for key in loaded if key.kid not in held))

    def _create_next(self) -> OKPKey:
        if self._directory is None:
            return _jose.generate_key()
        existing = _key_paths(self._directory)
        number = _number(existing[-1]) + 1 if existing else 1
        return _jose.load_or_create_pem(self._directory / _file_name(number))


def _key_paths(directory: Path) -> list[Path]:
    paths = [path for path in directory.iterdir() if _FILE_PATTERN.match(path.name)]
    return sorted(paths, key=_number)


def _number(path: Path) -> int:
    match = _FILE_PATTERN.match(path.name)
    assert match is not None
    return int(match.group(1))


def _file_name(number: int) -> str:
    return f"ed25519-{number:04d}.pem"
