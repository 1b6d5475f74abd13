"""KeyProvider contract (every provider) and the LocalKeyring's root key handling."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from qplane.config import Settings
from qplane.crypto import (
    InsecureKeyFile,
    KeyProvider,
    KeyUnavailable,
    LocalKeyring,
    SecretBytes,
    load_or_create_root_key,
)
from qplane.crypto._primitives import random_key
from qplane.domain.errors import IntegrityError, NotFound, QplaneError
from tests.crypto.memory_tenant_keys import MemoryTenantKeys

# --- contract: every KeyProvider ----------------------------------------------


def test_first_tenant_key_is_version_1_and_rotation_counts_up(
    provider: KeyProvider, keys: MemoryTenantKeys
) -> None:
    assert provider.create_tenant_key("ten_a", keys) == 1
    assert provider.create_tenant_key("ten_a", keys) == 2
    assert provider.create_tenant_key("ten_b", keys) == 1


def test_wrap_uses_latest_version_and_old_versions_still_unwrap(
    provider: KeyProvider, keys: MemoryTenantKeys
) -> None:
    data_key = random_key()
    provider.create_tenant_key("ten_a", keys)
    v1, wrapped_v1 = provider.wrap_data_key("ten_a", data_key, b"aad", keys)
    provider.create_tenant_key("ten_a", keys)
    v2, wrapped_v2 = provider.wrap_data_key("ten_a", data_key, b"aad", keys)
    assert (v1, v2) == (1, 2)
    for version, wrapped in ((v1, wrapped_v1), (v2, wrapped_v2)):
        unwrapped = provider.unwrap_data_key("ten_a", version, wrapped, b"aad", keys)
        assert unwrapped == data_key


def test_wrapped_data_key_is_bound_to_tenant_version_and_aad(
    provider: KeyProvider, keys: MemoryTenantKeys
) -> None:
    for tenant in ("ten_a", "ten_b"):
        provider.create_tenant_key(tenant, keys)
        provider.create_tenant_key(tenant, keys)
    version, wrapped = provider.wrap_data_key("ten_a", random_key(), b"aad", keys)
    for tenant, other_version, aad in (
        ("ten_b", version, b"aad"),
        ("ten_a", version - 1, b"aad"),
        ("ten_a", version, b"other aad"),
    ):
        with pytest.raises(IntegrityError):
            provider.unwrap_data_key(tenant, other_version, wrapped, aad, keys)


def test_missing_tenant_key_is_key_unavailable_not_not_found(
    provider: KeyProvider, keys: MemoryTenantKeys
) -> None:
    with pytest.raises(KeyUnavailable) as caught:
        provider.wrap_data_key("ten_none", random_key(), b"", keys)
    assert not isinstance(caught.value, NotFound)
    assert (caught.value.slug, caught.value.status) == ("key-unavailable", 503)
    provider.create_tenant_key("ten_a", keys)
    _, wrapped = provider.wrap_data_key("ten_a", random_key(), b"", keys)
    with pytest.raises(KeyUnavailable):
        provider.unwrap_data_key("ten_a", 7, wrapped, b"", keys)


# --- LocalKeyring: what the store sees ----------------------------------------


def test_store_holds_only_wrapped_keks_bound_to_tenant_and_version(keys: MemoryTenantKeys) -> None:
    keyring = LocalKeyring(random_key())
    keyring.create_tenant_key("ten_a", keys)
    keyring.create_tenant_key("ten_b", keys)
    rows = keys.rows
    assert all(len(blob) == 61 for blob in rows.values())  # format + nonce + key + tag
    # Swap the stored KEKs of two tenants: neither unwraps any more.
    rows[("ten_a", 1)], rows[("ten_b", 1)] = rows[("ten_b", 1)], rows[("ten_a", 1)]
    with pytest.raises(IntegrityError, match="stored tenant key failed to verify"):
        keyring.wrap_data_key("ten_a", random_key(), b"", keys)


def test_another_root_key_cannot_unwrap_tenant_keys(keys: MemoryTenantKeys) -> None:
    LocalKeyring(random_key()).create_tenant_key("ten_a", keys)
    with pytest.raises(IntegrityError):
        LocalKeyring(random_key()).wrap_data_key("ten_a", random_key(), b"", keys)


def test_keyring_repr_hides_root_key() -> None:
    root = random_key()
    assert root.reveal().hex() not in repr(LocalKeyring(root))
    assert "redacted" in repr(LocalKeyring(root))


def test_root_key_must_be_32_bytes() -> None:
    with pytest.raises(KeyUnavailable):
        LocalKeyring(SecretBytes(b"short"))


# --- root key: file and environment -------------------------------------------


def test_root_key_file_is_created_private_and_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "root.key"
    created = load_or_create_root_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_or_create_root_key(path) == created
    assert len(created) == 32
    assert [p.name for p in path.parent.iterdir()] == ["root.key"]  # no temp file left


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644, 0o620])
def test_root_key_readable_or_writable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "root.key"
    load_or_create_root_key(path)
    os.chmod(path, mode)
    with pytest.raises(InsecureKeyFile) as caught:
        load_or_create_root_key(path)
    assert "chmod 600" in str(caught.value)
    assert isinstance(caught.value, QplaneError)


def test_root_key_that_is_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "root.key"
    path.mkdir(mode=0o700)
    with pytest.raises(InsecureKeyFile, match="not a regular file"):
        load_or_create_root_key(path)


@pytest.mark.parametrize("content", [b"not base64!!\n", base64.b64encode(b"x" * 16)])
def test_malformed_root_key_file_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "root.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, content)
    os.close(fd)
    with pytest.raises(KeyUnavailable):
        load_or_create_root_key(path)


def test_from_settings_prefers_root_key_setting(tmp_path: Path, keys: MemoryTenantKeys) -> None:
    root = base64.b64encode(os.urandom(32)).decode()
    settings = Settings(data_dir=tmp_path, root_key=SecretStr(root))
    keyring = LocalKeyring.from_settings(settings)
    keyring.create_tenant_key("ten_a", keys)
    same = LocalKeyring.from_settings(Settings(data_dir=tmp_path, root_key=SecretStr(root)))
    version, wrapped = keyring.wrap_data_key("ten_a", random_key(), b"", keys)
    same.unwrap_data_key("ten_a", version, wrapped, b"", keys)
    assert not settings.key_dir.exists()  # nothing written when the key is supplied


def test_from_settings_falls_back_to_key_file(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    LocalKeyring.from_settings(settings)
    path = settings.key_dir / "root.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(settings.key_dir.stat().st_mode) == 0o700


def test_from_settings_refuses_malformed_root_key(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, root_key=SecretStr("dG9vIHNob3J0"))
    with pytest.raises(KeyUnavailable) as caught:
        LocalKeyring.from_settings(settings)
    assert "dG9vIHNob3J0" not in str(caught.value)
