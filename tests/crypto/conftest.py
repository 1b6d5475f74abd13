"""Fixtures for the crypto tests: real key providers over in-memory key rings.

`PROVIDERS` is the extension point: every `KeyProvider` implementation
(PKCS#11, a cloud KMS …) joins it and must pass the same contract tests in
test_keyring.py, test_envelope.py and test_key_hierarchy.py, which ask for
the parametrised ``provider`` fixture (or for ``envelope``/``hierarchy``,
built on it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import pytest

from qplane.crypto import (
    ArtifactBinding,
    Envelope,
    KeyProvider,
    LocalKeyring,
    SecretBytes,
    _primitives,
)
from qplane.crypto._aad import encode_aad
from qplane.crypto._primitives import random_key
from qplane.crypto.hierarchy import KeyHierarchy
from qplane.crypto.providers import KeyProviders
from qplane.domain.clock import utcnow
from qplane.domain.keys import KekState, KekVersion, KeyRing
from qplane.domain.ports import KeyRingRepository, SealedArtifact, UnitOfWork
from tests.crypto.memory_key_rings import MemoryKeyRings, MemoryUnitOfWork
from tests.crypto.softhsm import pkcs11_provider


def _local_keyring(request: pytest.FixtureRequest) -> KeyProvider:
    return LocalKeyring(random_key())


#: Every KeyProvider implementation joins this dict under its ``name``. A factory
#: gets the test's request, so it can ask for the fixtures it needs (a token in
#: a temporary directory: ``request.getfixturevalue("tmp_path")``) and register
#: clean-up with ``request.addfinalizer``.
PROVIDERS: dict[str, Callable[[pytest.FixtureRequest], KeyProvider]] = {
    "local": _local_keyring,
    "pkcs11": pkcs11_provider,
}


@pytest.fixture(params=sorted(PROVIDERS))
def provider(request: pytest.FixtureRequest) -> KeyProvider:
    return PROVIDERS[request.param](request)


def providers_for(
    provider: KeyProvider,
    *others: KeyProvider,
    customer_managed: Callable[[KeyRing], KeyProvider] | None = None,
) -> KeyProviders:
    """The platform's providers, with *provider* serving new rings and *others* by name."""
    local = provider if isinstance(provider, LocalKeyring) else LocalKeyring(random_key())
    by_name = {p.name: p for p in (provider, *others) if p is not local}
    return KeyProviders(
        local, default=provider.name, others=by_name, customer_managed=customer_managed
    )


@pytest.fixture
def memory() -> MemoryUnitOfWork:
    return MemoryUnitOfWork()


@pytest.fixture
def uow(memory: MemoryUnitOfWork) -> UnitOfWork:
    """*memory* as the services see it (it has only the repositories `KeyHierarchy` uses)."""
    return cast("UnitOfWork", memory)


@pytest.fixture
def rings(memory: MemoryUnitOfWork) -> MemoryKeyRings:
    return memory.key_rings


@pytest.fixture
def hierarchy(provider: KeyProvider) -> KeyHierarchy:
    return KeyHierarchy(providers_for(provider))


@pytest.fixture
def envelope(hierarchy: KeyHierarchy, uow: UnitOfWork) -> Envelope:
    """An envelope over the rings ``ten_a/*`` and ``ten_b/*``, one KEK version each."""
    for tenant in ("ten_a", "ten_b"):
        hierarchy.create_ring(uow, tenant)
    return Envelope(hierarchy.providers, uow.key_rings)


class SpyProvider:
    """Forwards to a real provider (under a name of its own, if given).

    Remembers every data key it wrapped and every KEK version it destroyed.
    """

    def __init__(self, inner: KeyProvider, name: str | None = None) -> None:
        self.inner = inner
        self.name = name or inner.name
        self.data_keys: list[SecretBytes] = []
        self.destroyed: list[tuple[str, int]] = []

    def create_kek(self, ring: KeyRing, version: int) -> bytes:
        return self.inner.create_kek(ring, version)

    def wrap(self, ring: KeyRing, kek: KekVersion, data_key: SecretBytes, aad: bytes) -> bytes:
        self.data_keys.append(data_key)
        return self.inner.wrap(ring, kek, data_key, aad)

    def unwrap(self, ring: KeyRing, kek: KekVersion, wrapped: bytes, aad: bytes) -> SecretBytes:
        return self.inner.unwrap(ring, kek, wrapped, aad)

    def destroy(self, ring: KeyRing, kek: KekVersion) -> None:
        self.destroyed.append((kek.ring, kek.version))
        self.inner.destroy(ring, kek)


@pytest.fixture
def spy(provider: KeyProvider) -> SpyProvider:
    return SpyProvider(provider, name="spy")


class LegacyKek:
    """Version 1 of a ring as migrated from before rings, and a value sealed under it.

    Built exactly as the old code did: LocalKeyring wrapped a tenant's KEK
    under the root key with AAD ("qplane/tenant-kek/v1", tenant, version)
    and stored just those 61 bytes, and wrapped each data key with AAD
    ("qplane/data-key/v1", tenant, version, binding AAD); the platform's MFA
    key had the owner "platform". Migration 0012 made them versions of
    ``<tenant>/*`` (or ``platform/mfa``) with aad_format 1.
    """

    def __init__(
        self,
        rings: KeyRingRepository,
        ring: str,
        tenant_id: str | None,
        owner: str,
        plaintext: bytes,
        root: SecretBytes | None = None,
    ) -> None:
        self.root = root or random_key()
        self.kek = random_key()
        self.owner = owner
        self.binding = ArtifactBinding(owner, "prj_1", "job_1", "circuit")
        material = _primitives.wrap_key(
            self.root, self.kek, encode_aad("qplane/tenant-kek/v1", owner, 1)
        )
        assert len(material) == 61
        self.ring = KeyRing(ring, tenant_id, None, "default", "local", utcnow())
        rings.add_ring(self.ring)
        version = KekVersion(ring, 1, KekState.ACTIVE, utcnow(), material, aad_format=1)
        rings.add_version(self.ring, version)
        self.sealed = self.seal_the_old_way(plaintext, self.binding)

    def seal_the_old_way(self, plaintext: bytes, binding: ArtifactBinding) -> SealedArtifact:
        data_key = random_key()
        nonce, ciphertext = _primitives.encrypt(data_key, plaintext, binding.aad())
        aad = encode_aad("qplane/data-key/v1", self.owner, 1, binding.aad())
        wrapped = _primitives.wrap_key(self.kek, data_key, aad)
        return SealedArtifact(1, wrapped, nonce, ciphertext, kek_ring=self.ring.name)

    def hierarchy(self) -> KeyHierarchy:
        return KeyHierarchy(KeyProviders(LocalKeyring(self.root)))
