"""The platform's token-signing keys (Ed25519) and the JWKS that publishes them.

Keys live in ``key_dir/signing/`` as ``ed25519-NNNN.pem`` files (mode 0600,
directory 0700, created atomically). Each key's ``kid`` is its RFC 7638 JWK
thumbprint, so a kid names exactly one public key and cannot be made to
point at another.

Rotation (`rotate`, ``qplane keys rotate-signing``) is staged: a new key may
carry a *not-before* time (``ed25519-NNNN.json`` beside it, written before
the key itself) and is published in the JWKS at once but signs nothing
until then, so verifiers that cache the JWKS learn it before they meet a
token it signed. The *current* key is the newest whose not-before has
passed. A replaced key stays published until every token it can have signed
has expired; `prune` then deletes it. Servers follow another process's
rotation without a restart: `reload` runs at most every
``reload_interval_s`` when the JWKS or the current key is read, and when a
token names an unknown ``kid`` (rate-limited, so random kids cannot make a
server rescan its key directory on every request).

Security properties: private keys are only ever in their 0600 files and in
memory; `jwks` and `public_key` hand out public keys only (no ``d``); a key
file that group or others can access is refused (`InsecureKeyFile`).
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from joserfc.jwk import OKPKey

from qplane.crypto.keyfiles import write_new_secret_file
from qplane.identity import _jose

SIGNING_DIR: Final = "signing"
DEFAULT_RELOAD_INTERVAL_S: Final = 10.0
_FILE_PATTERN: Final = re.compile(r"^ed25519-(\d{4,})\.pem$")


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One Ed25519 signing key; ``private`` never leaves the identity package.

    ``not_before`` (epoch seconds) is when it may start signing; 0 means at once.
    """

    kid: str
    private: OKPKey = field(repr=False)
    public: OKPKey = field(repr=False)
    not_before: int = 0

    @classmethod
    def of(cls, key: OKPKey, not_before: int = 0) -> SigningKey:
        public = _jose.import_public_jwk(_jose.public_jwk(key))
        return cls(kid=str(public.kid), private=key, public=public, not_before=not_before)


class SigningKeys:
    """The platform's signing keys, oldest first."""

    def __init__(
        self,
        keys: list[SigningKey],
        directory: Path | None = None,
        *,
        clock: Callable[[], float] = time.time,
        reload_interval_s: float = DEFAULT_RELOAD_INTERVAL_S,
    ) -> None:
        if not keys:
            raise ValueError("SigningKeys needs at least one key")
        self._keys = tuple(keys)
        self._directory = directory
        self._clock = clock
        self._reload_interval_s = reload_interval_s
        self._last_reload = clock()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SigningKeys(kids={[key.kid for key in self._keys]!r})"

    @classmethod
    def load_or_create(
        cls,
        key_dir: Path,
        *,
        clock: Callable[[], float] = time.time,
        reload_interval_s: float = DEFAULT_RELOAD_INTERVAL_S,
    ) -> SigningKeys:
        """Load every key in ``key_dir/signing/``, creating the first if there is none."""
        directory = key_dir / SIGNING_DIR
        paths = _key_paths(directory) if directory.is_dir() else []
        if not paths:
            paths = [directory / _file_name(1)]
        keys = [SigningKey.of(_jose.load_or_create_pem(p), _not_before(p)) for p in paths]
        return cls(keys, directory, clock=clock, reload_interval_s=reload_interval_s)

    @classmethod
    def ephemeral(cls) -> SigningKeys:
        """One in-memory key that is never written anywhere (tests, one-shot tools)."""
        return cls([SigningKey.of(_jose.generate_key())])

    @property
    def current(self) -> SigningKey:
        """The key that signs new tokens: the newest whose not-before has passed."""
        self._maybe_reload()
        now = self._clock()
        usable = [key for key in self._keys if key.not_before <= now]
        return usable[-1] if usable else self._keys[0]

    @property
    def kids(self) -> tuple[str, ...]:
        return tuple(key.kid for key in self._keys)

    def public_key(self, kid: str) -> OKPKey | None:
        """The public key named *kid*, or None; an unknown kid triggers a rate-limited reload."""
        found = self._find(kid)
        if found is None and self._maybe_reload():
            found = self._find(kid)
        return found

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The JSON Web Key Set of all held keys, including staged ones not yet signing."""
        self._maybe_reload()
        return {"keys": [_jose.public_jwk(key.private) for key in self._keys]}

    def rotate(self, publish_ahead_s: int = 0) -> SigningKey:
        """Create the next key, signing from *publish_ahead_s* seconds on; older keys stay."""
        if publish_ahead_s < 0:
            raise ValueError("publish_ahead_s must not be negative")
        not_before = int(self._clock()) + publish_ahead_s
        with self._lock:
            new = SigningKey.of(self._create_next(not_before), not_before)
            self._keys = (*self._keys, new)
            return new

    def prune(self, max_token_lifetime_s: int) -> list[str]:
        """Delete keys no unexpired token can name; returns their kids.

        A key is kept while it is current or newer, and until the key that
        replaced it has been signing for longer than *max_token_lifetime_s*.
        """
        now = self._clock()
        current = self.current
        doomed: list[SigningKey] = []
        for older, newer in zip(self._keys, self._keys[1:], strict=False):
            if older is current or newer.not_before > now:
                break
            if newer.not_before + max_token_lifetime_s <= now:
                doomed.append(older)
        with self._lock:
            for key in doomed:
                self._remove_files(key)
            gone = {key.kid for key in doomed}
            self._keys = tuple(key for key in self._keys if key.kid not in gone)
        return [key.kid for key in doomed]

    def reload(self) -> None:
        """Re-read the key directory: add new keys, drop pruned ones, refresh not-before."""
        if self._directory is None:
            return
        with self._lock:
            self._last_reload = self._clock()
            loaded: list[SigningKey] = []
            for path in _key_paths(self._directory):
                try:
                    loaded.append(SigningKey.of(_jose.load_pem(path), _not_before(path)))
                except FileNotFoundError:
                    continue  # pruned while we listed
            if loaded:
                self._keys = tuple(loaded)

    def _maybe_reload(self) -> bool:
        if self._directory is None or self._clock() - self._last_reload < self._reload_interval_s:
            return False
        self.reload()
        return True

    def _find(self, kid: str) -> OKPKey | None:
        for key in self._keys:
            if key.kid == kid:
                return key.public
        return None

    def _create_next(self, not_before: int) -> OKPKey:
        if self._directory is None:
            return _jose.generate_key()
        existing = _key_paths(self._directory)
        path = self._directory / _file_name(_number(existing[-1]) + 1 if existing else 1)
        # The schedule must exist before the key does, or a reader could sign with it early.
        meta = json.dumps({"not_before": not_before}).encode()
        write_new_secret_file(path.with_suffix(".json"), meta)
        return _jose.load_or_create_pem(path)

    def _remove_files(self, key: SigningKey) -> None:
        if self._directory is None:
            return
        for path in _key_paths(self._directory):
            with contextlib.suppress(FileNotFoundError, ValueError):
                if SigningKey.of(_jose.load_pem(path)).kid == key.kid:
                    path.unlink()
                    path.with_suffix(".json").unlink(missing_ok=True)


def _not_before(path: Path) -> int:
    """The key's not-before from its metadata file; its creation time when there is none.

    Pruning measures a replaced key's remaining life from its successor's
    not-before, so every key needs a real time here, never 0.
    """
    meta = path.with_suffix(".json")
    try:
        value = json.loads(meta.read_text()).get("not_before", 0)
    except FileNotFoundError:
        return int(path.stat().st_mtime)
    except (ValueError, AttributeError):
        # An unreadable schedule must not make a key sign early: never sign with it.
        return 2**62
    return value if type(value) is int and value >= 0 else 2**62


def _key_paths(directory: Path) -> list[Path]:
    paths = [path for path in directory.iterdir() if _FILE_PATTERN.match(path.name)]
    return sorted(paths, key=_number)


def _number(path: Path) -> int:
    match = _FILE_PATTERN.match(path.name)
    assert match is not None
    return int(match.group(1))


def _file_name(number: int) -> str:
    return f"ed25519-{number:04d}.pem"
