"""Key providers: where the key-encryption keys (KEKs) of each key ring live and work.

The key hierarchy (see `qplane.domain.keys`) is root key → KEK version of a
ring → data key. A `KeyProvider` holds the top of it: it creates a ring's
KEK versions and wraps and unwraps data keys under them. What it returns
for the store to keep (the *material*) is never a usable key: the local
keyring returns the KEK wrapped under its root key; a PKCS#11 HSM keeps the
KEK inside the token as a non-extractable object and returns a reference.
A cloud KMS or Vault transit is a small adapter of the same four calls.

Security properties of every provider:

* Material is useless without the provider (the root key, the token).
* The caller passes the complete associated data for each wrap; a wrapped
  data key opens only under the same KEK and the same associated data, so
  one copied to another ring, version, tenant or artifact raises
  `IntegrityError`.
* A missing, disabled or destroyed KEK raises `KeyUnavailable`, never
  `NotFound`.
"""

from __future__ import annotations

import base64
import binascii
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol

from qplane.crypto import _primitives
from qplane.crypto._aad import encode_aad
from qplane.crypto.errors import KeyUnavailable
from qplane.crypto.keyfiles import load_or_create_secret_file
from qplane.crypto.secret_bytes import SecretBytes
from qplane.domain.keys import PLATFORM, KekVersion, KeyRing

if TYPE_CHECKING:
    from qplane.config import Settings

ROOT_KEY_FILE: Final = "root.key"
LOCAL: Final = "local"
_LEGACY_KEK_LABEL: Final = "qplane/tenant-kek/v1"
_KEK_LABEL: Final = "qplane/kek/v2"
#: Material written before root keys had versions is just the wrapped KEK.
_WRAPPED_KEK_BYTES: Final = _primitives.WRAPPED_KEY_BYTES
_ROOT_VERSION: Final = struct.Struct(">I")


class KeyProvider(Protocol):
    """Creates a ring's KEK versions and wraps/unwraps data keys under them."""

    name: str

    def create_kek(self, ring: KeyRing, version: int) -> bytes:
        """Make KEK *version* of *ring*; returns the material the store keeps for it."""
        ...

    def wrap(self, ring: KeyRing, kek: KekVersion, data_key: SecretBytes, aad: bytes) -> bytes: ...

    def unwrap(self, ring: KeyRing, kek: KekVersion, wrapped: bytes, aad: bytes) -> SecretBytes:
        """The data key, or `IntegrityError` (wrong key, AAD or tampering) / `KeyUnavailable`."""
        ...

    def destroy(self, ring: KeyRing, kek: KekVersion) -> None:
        """Destroy the KEK wherever the provider keeps it (the store erases the material)."""
        ...


def owner_of(ring: KeyRing) -> str:
    """The name the first key format bound into associated data: tenant id or ``platform``."""
    return ring.tenant_id or PLATFORM


class LocalKeyring:
    """A `KeyProvider` whose root of trust is a 32-byte key (or several versions of it).

    KEKs are 32 random bytes wrapped under the current root key with
    AES-GCM whose associated data binds the ring and the version, so a
    wrapped KEK copied to another ring or version does not unwrap. Material
    records which root version wrapped it; rotating the root rewraps every
    KEK (`rewrap_material`) and the old root can then be deleted.
    """

    __slots__ = ("_current", "_key_dir", "_roots")
    name = LOCAL

    def __init__(self, root_key: SecretBytes, *, key_dir: Path | None = None) -> None:
        self._roots: dict[int, SecretBytes] = {}
        self._current = 0
        #: Where root key files live: a running server picks up a rotated root from here.
        self._key_dir = key_dir
        self._add_roots({1: root_key})

    @classmethod
    def with_roots(
        cls, roots: dict[int, SecretBytes], *, key_dir: Path | None = None
    ) -> LocalKeyring:
        """A keyring over several root key versions; the highest wraps new KEKs."""
        if not roots:
            raise KeyUnavailable("no root key")
        keyring = cls(roots[min(roots)], key_dir=key_dir)
        keyring._roots = {}
        keyring._add_roots(roots)
        return keyring

    def _add_roots(self, roots: dict[int, SecretBytes]) -> None:
        for key in roots.values():
            if len(key) != _primitives.KEY_BYTES:
                raise KeyUnavailable(f"a root key must be {_primitives.KEY_BYTES} bytes")
        self._roots.update(roots)
        self._current = max(self._roots)

    def __repr__(self) -> str:
        return f"LocalKeyring(<root keys redacted>, current={self._current})"

    @property
    def root_version(self) -> int:
        return self._current

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalKeyring:
        """Use ``QPLANE_ROOT_KEY`` (base64) if set, else the root key files in ``key_dir``.

        ``root.key`` is root version 1 and is created (0600, in a 0700
        directory) when missing; ``root-<n>.key`` files are later versions
        made by ``qplane keys rotate-root``. Files that group or others can
        read are refused with `InsecureKeyFile`.
        """
        if settings.root_key is not None:
            return cls(_decode_root_key(settings.root_key.get_secret_value().encode()))
        return cls.with_roots(load_root_keys(settings.key_dir), key_dir=settings.key_dir)

    def create_kek(self, ring: KeyRing, version: int) -> bytes:
        self._pick_up_rotated_roots()  # never wrap a new KEK under a root being retired
        kek = _primitives.random_key()
        return self._wrap_kek(ring, version, kek, aad_format=2)

    def wrap(self, ring: KeyRing, kek: KekVersion, data_key: SecretBytes, aad: bytes) -> bytes:
        return _primitives.wrap_key(self._kek(ring, kek), data_key, aad)

    def unwrap(self, ring: KeyRing, kek: KekVersion, wrapped: bytes, aad: bytes) -> SecretBytes:
        return _primitives.unwrap_key(self._kek(ring, kek), wrapped, aad, what="wrapped data key")

    def destroy(self, ring: KeyRing, kek: KekVersion) -> None:
        """Nothing to do here: the KEK exists only as the material the store erases."""

    def rewrap_material(self, ring: KeyRing, kek: KekVersion) -> bytes:
        """The same KEK, wrapped under the current root key (root key rotation)."""
        return self._wrap_kek(ring, kek.version, self._kek(ring, kek), aad_format=kek.aad_format)

    def material_root_version(self, kek: KekVersion) -> int:
        material = _material(kek)
        return 1 if len(material) == _WRAPPED_KEK_BYTES else _ROOT_VERSION.unpack_from(material)[0]

    def _wrap_kek(self, ring: KeyRing, version: int, kek: SecretBytes, *, aad_format: int) -> bytes:
        wrapped = _primitives.wrap_key(
            self._roots[self._current], kek, _kek_aad(ring, version, aad_format)
        )
        return _ROOT_VERSION.pack(self._current) + wrapped

    def _kek(self, ring: KeyRing, kek: KekVersion) -> SecretBytes:
        material = _material(kek)
        if len(material) == _WRAPPED_KEK_BYTES:  # written before root keys had versions
            root_version, wrapped = 1, material
        else:
            root_version, wrapped = _ROOT_VERSION.unpack_from(material)[0], material[4:]
        root = self._roots.get(root_version)
        if root is None and root_version > self._current:
            self._pick_up_rotated_roots()
            root = self._roots.get(root_version)
        if root is None:
            raise KeyUnavailable(f"root key version {root_version} is not available")
        return _primitives.unwrap_key(
            root, wrapped, _kek_aad(ring, kek.version, kek.aad_format), what="stored key version"
        )

    def _pick_up_rotated_roots(self) -> None:
        """Load root versions newer than ours that ``qplane keys rotate-root`` wrote."""
        if self._key_dir is None:
            return
        newer = [v for v in root_versions(self._key_dir) if v > self._current]
        if newer:
            self._add_roots(
                {v: load_or_create_root_key(root_key_path(self._key_dir, v)) for v in newer}
            )


def _material(kek: KekVersion) -> bytes:
    if kek.material is None:
        raise KeyUnavailable("this key version has been destroyed")
    return kek.material


def _kek_aad(ring: KeyRing, version: int, aad_format: int) -> bytes:
    if aad_format == 1:
        return encode_aad(_LEGACY_KEK_LABEL, owner_of(ring), version)
    return encode_aad(_KEK_LABEL, ring.name, version)


def root_key_path(key_dir: Path, version: int) -> Path:
    return key_dir / (ROOT_KEY_FILE if version == 1 else f"root-{version}.key")


def load_root_keys(key_dir: Path) -> dict[int, SecretBytes]:
    """Every root key version in *key_dir*; version 1 (``root.key``) is created if there is none.

    After a root rotation the old files may be deleted (``qplane keys
    rotate-root --delete-old``): the versions present are whatever files exist.
    """
    versions = sorted(root_versions(key_dir)) or [1]
    return {v: load_or_create_root_key(root_key_path(key_dir, v)) for v in versions}


def root_versions(key_dir: Path) -> list[int]:
    """The root key versions that have a file in *key_dir*."""
    found = [1] if root_key_path(key_dir, 1).exists() else []
    if key_dir.is_dir():
        for path in key_dir.glob("root-*.key"):
            number = path.name[len("root-") : -len(".key")]
            if number.isdigit() and int(number) > 1:
                found.append(int(number))
    return sorted(found)


def load_or_create_root_key(path: Path) -> SecretBytes:
    """Load the base64 root key at *path*, creating a random one if missing.

    Created atomically with mode 0600 (directory 0700); a file that group or
    others can access raises `InsecureKeyFile`; a malformed one raises
    `KeyUnavailable`.
    """

    def make() -> bytes:
        return base64.b64encode(_primitives.random_key().reveal()) + b"\n"

    return _decode_root_key(load_or_create_secret_file(path, make))


def _decode_root_key(text: bytes) -> SecretBytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyUnavailable("the root key is not valid base64") from None
    if len(raw) != _primitives.KEY_BYTES:
        raise KeyUnavailable(f"the root key must decode to {_primitives.KEY_BYTES} bytes")
    return _primitives.key_from_bytes(raw)
