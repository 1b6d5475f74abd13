"""Key providers: per-tenant key-encryption keys (KEKs) under one root of trust.

The key hierarchy is root key → tenant KEK (one per tenant and version) →
data key (one per artifact, see `qplane.crypto.envelope`).

`KeyProvider` is the seam for other roots of trust: a PKCS#11 HSM, a cloud
KMS or Vault transit implements the same three calls (generate-and-wrap a
tenant key, wrap, unwrap), usually by keeping the KEK inside the device and
storing only a key handle or its own ciphertext through the
`TenantKeyRepository`. `LocalKeyring` is the embedded implementation.

Security properties of every provider:

* The store (`TenantKeyRepository`) only ever sees wrapped keys.
* A wrapped data key is bound to the tenant, the KEK version and the
  caller's AAD; unwrapping it under any other tenant, version or AAD raises
  `IntegrityError`.
* A tenant (or version) without a key raises `KeyUnavailable`, never
  `NotFound`.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol

from qplane.crypto import _primitives
from qplane.crypto._aad import encode_aad
from qplane.crypto.errors import KeyUnavailable
from qplane.crypto.keyfiles import load_or_create_secret_file
from qplane.crypto.secret_bytes import SecretBytes
from qplane.domain.ports import TenantKeyRepository

if TYPE_CHECKING:
    from qplane.config import Settings

ROOT_KEY_FILE: Final = "root.key"
_TENANT_KEK_LABEL: Final = "qplane/tenant-kek/v1"
_DATA_KEY_LABEL: Final = "qplane/data-key/v1"


class KeyProvider(Protocol):
    """Creates tenant KEKs and wraps/unwraps data keys under them."""

    def create_tenant_key(self, tenant_id: str, keys: TenantKeyRepository) -> int:
        """Create the tenant's next KEK version (the first is 1) and store it wrapped.

        Calling it again rotates: new data keys use the new version, and
        older versions keep unwrapping what they wrapped.
        """
        ...

    def wrap_data_key(
        self, tenant_id: str, data_key: SecretBytes, aad: bytes, keys: TenantKeyRepository
    ) -> tuple[int, bytes]:
        """Wrap *data_key* under the tenant's latest KEK; returns (version, blob).

        The blob is bound to *tenant_id*, the version and *aad*.
        """
        ...

    def unwrap_data_key(
        self,
        tenant_id: str,
        version: int,
        wrapped: bytes,
        aad: bytes,
        keys: TenantKeyRepository,
    ) -> SecretBytes:
        """Unwrap a blob from `wrap_data_key`, or raise `IntegrityError`/`KeyUnavailable`."""
        ...


class LocalKeyring:
    """A `KeyProvider` whose root of trust is a 32-byte key held in memory.

    Tenant KEKs are 32 random bytes wrapped under the root key with AES-GCM
    whose AAD binds the tenant id and the version, so a wrapped KEK copied
    to another tenant or version does not unwrap.
    """

    __slots__ = ("_root",)

    def __init__(self, root_key: SecretBytes) -> None:
        if len(root_key) != _primitives.KEY_BYTES:
            raise KeyUnavailable(f"the root key must be {_primitives.KEY_BYTES} bytes")
        self._root = root_key

    def __repr__(self) -> str:
        return "LocalKeyring(<root key redacted>)"

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalKeyring:
        """Use ``QPLANE_ROOT_KEY`` (base64) if set, else ``key_dir/root.key``.

        The file is created (0600, in a 0700 directory) when missing, and
        refused with `InsecureKeyFile` when group or others can read it.
        """
        if settings.root_key is not None:
            return cls(_decode_root_key(settings.root_key.get_secret_value().encode()))
        return cls(load_or_create_root_key(settings.key_dir / ROOT_KEY_FILE))

    def create_tenant_key(self, tenant_id: str, keys: TenantKeyRepository) -> int:
        latest = keys.latest(tenant_id)
        version = 1 if latest is None else latest[0] + 1
        kek = _primitives.random_key()
        wrapped = _primitives.wrap_key(self._root, kek, _kek_aad(tenant_id, version))
        keys.add(tenant_id, version, wrapped)
        return version

    def wrap_data_key(
        self, tenant_id: str, data_key: SecretBytes, aad: bytes, keys: TenantKeyRepository
    ) -> tuple[int, bytes]:
        latest = keys.latest(tenant_id)
        if latest is None:
            raise KeyUnavailable("the tenant has no encryption key")
        version, wrapped_kek = latest
        kek = self._unwrap_kek(tenant_id, version, wrapped_kek)
        return version, _primitives.wrap_key(kek, data_key, _data_key_aad(tenant_id, version, aad))

    def unwrap_data_key(
        self,
        tenant_id: str,
        version: int,
        wrapped: bytes,
        aad: bytes,
        keys: TenantKeyRepository,
    ) -> SecretBytes:
        wrapped_kek = keys.get(tenant_id, version)
        if wrapped_kek is None:
            raise KeyUnavailable("the tenant key version for this data is not available")
        kek = self._unwrap_kek(tenant_id, version, wrapped_kek)
        return _primitives.unwrap_key(
            kek, wrapped, _data_key_aad(tenant_id, version, aad), what="wrapped data key"
        )

    def _unwrap_kek(self, tenant_id: str, version: int, wrapped: bytes) -> SecretBytes:
        return _primitives.unwrap_key(
            self._root, wrapped, _kek_aad(tenant_id, version), what="stored tenant key"
        )


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


def _kek_aad(tenant_id: str, version: int) -> bytes:
    return encode_aad(_TENANT_KEK_LABEL, tenant_id, version)


def _data_key_aad(tenant_id: str, version: int, aad: bytes) -> bytes:
    return encode_aad(_DATA_KEY_LABEL, tenant_id, version, aad)
