"""Fixtures for the crypto tests: real providers over an in-memory key store."""

from __future__ import annotations

import pytest

from qplane.crypto import Envelope, KeyProvider, LocalKeyring, SecretBytes
from qplane.crypto._primitives import random_key
from tests.crypto.memory_tenant_keys import MemoryTenantKeys


def _local_keyring() -> KeyProvider:
    return LocalKeyring(random_key())


# Every KeyProvider implementation (PKCS#11, KMS …) joins this list and
# must pass the same contract tests.
PROVIDERS = {"local": _local_keyring}


@pytest.fixture(params=sorted(PROVIDERS))
def provider(request: pytest.FixtureRequest) -> KeyProvider:
    return PROVIDERS[request.param]()


@pytest.fixture
def keys() -> MemoryTenantKeys:
    return MemoryTenantKeys()


@pytest.fixture
def envelope(provider: KeyProvider, keys: MemoryTenantKeys) -> Envelope:
    for tenant in ("ten_a", "ten_b"):
        provider.create_tenant_key(tenant, keys)
    return Envelope(provider, keys)


class SpyProvider:
    """Forwards to a real provider and remembers every data key it wrapped."""

    def __init__(self, inner: KeyProvider) -> None:
        self.inner = inner
        self.data_keys: list[SecretBytes] = []

    def create_tenant_key(self, tenant_id: str, keys: MemoryTenantKeys) -> int:
        return self.inner.create_tenant_key(tenant_id, keys)

    def wrap_data_key(
        self, tenant_id: str, data_key: SecretBytes, aad: bytes, keys: MemoryTenantKeys
    ) -> tuple[int, bytes]:
        self.data_keys.append(data_key)
        return self.inner.wrap_data_key(tenant_id, data_key, aad, keys)

    def unwrap_data_key(
        self, tenant_id: str, version: int, wrapped: bytes, aad: bytes, keys: MemoryTenantKeys
    ) -> SecretBytes:
        return self.inner.unwrap_data_key(tenant_id, version, wrapped, aad, keys)


@pytest.fixture
def spy(provider: KeyProvider, keys: MemoryTenantKeys) -> SpyProvider:
    spy = SpyProvider(provider)
    spy.create_tenant_key("ten_a", keys)
    return spy
