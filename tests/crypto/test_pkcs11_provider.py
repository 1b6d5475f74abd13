"""KEKs in PKCS#11 tokens, against a real SoftHSM: the platform's HSM and customers' own keys.

Each test gets fresh tokens. The platform's administrator and the customer
act on their tokens from processes of their own (`tests.crypto.softhsm`).
These tests fail, never skip, without SoftHSM when ``CI=true``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

import pytest

from qplane.bootstrap import build_platform
from qplane.config import Settings
from qplane.crypto._primitives import random_key
from qplane.crypto.customer_keys import CustomerKeyConfig, CustomerManagedKeys
from qplane.crypto.envelope import ArtifactBinding
from qplane.crypto.errors import KeyUnavailable
from qplane.crypto.hierarchy import KeyHierarchy
from qplane.crypto.keyfiles import write_new_secret_file
from qplane.crypto.keyring import LocalKeyring
from qplane.crypto.pkcs11_provider import KeyReference, Pkcs11Provider
from qplane.crypto.pkcs11_token import Pkcs11Token
from qplane.crypto.providers import KeyProviders
from qplane.crypto.secret_bytes import SecretBytes
from qplane.domain.errors import IntegrityError, ValidationFailed
from qplane.domain.keys import KekState, KekVersion, KeyRing
from qplane.store import Database
from tests.crypto.softhsm import MODULE, SoftHsm, TokenOwner, restart_module, softhsm_for
from tests.store.conftest import EPOCH, World, new_side

pytestmark = pytest.mark.usefixtures("softhsm")

TENANT: Final = "ten_acme"
RING: Final = KeyRing(f"{TENANT}/*", TENANT, None, "default", "pkcs11", EPOCH)
CUSTOMER_KEY: Final = "acme-kek"
PIN_FILE: Final = "acme.pin"
AAD: Final = b"qplane/test-binding"


@pytest.fixture
def softhsm(request: pytest.FixtureRequest) -> SoftHsm:
    """The test process's SoftHSM (its configuration is set before the module is loaded)."""
    return softhsm_for(request)


@pytest.fixture
def platform_token(softhsm: SoftHsm) -> Iterator[TokenOwner]:
    owner = softhsm.new_token("qplane")
    yield owner
    softhsm.delete_token(owner)


@pytest.fixture
def provider(platform_token: TokenOwner) -> Iterator[Pkcs11Provider]:
    provider = Pkcs11Provider(
        Pkcs11Token(MODULE, platform_token.label, platform_token.pin_source())
    )
    yield provider
    provider.close()


@pytest.fixture
def customer(softhsm: SoftHsm) -> Iterator[TokenOwner]:
    """The customer's own token, holding the AES-256 key they generated for qplane."""
    owner = softhsm.new_token("acme")
    owner.generate_aes_key(CUSTOMER_KEY)
    yield owner
    softhsm.delete_token(owner)


@pytest.fixture
def pin_dir(tmp_path: Path, customer: TokenOwner) -> Path:
    """The operator installed the customer's PIN for qplane (private to the service)."""
    write_new_secret_file(tmp_path / "pins" / TENANT / PIN_FILE, customer.pin.encode())
    return tmp_path / "pins"


@pytest.fixture
def customer_keys(pin_dir: Path) -> Iterator[CustomerManagedKeys]:
    keys = CustomerManagedKeys(allowed_modules=[MODULE], pin_dir=pin_dir, login_retry_s=0)
    yield keys
    keys.close()


def _pin(pin: str) -> Callable[[], SecretBytes]:
    return lambda: SecretBytes(pin.encode())


def _kek(provider: Pkcs11Provider, ring: KeyRing, version: int = 1) -> KekVersion:
    material = provider.create_kek(ring, version)
    return KekVersion(ring.name, version, KekState.ACTIVE, EPOCH, material, provider=ring.provider)


def _cmk_ring(customer: TokenOwner, *, tenant: str = TENANT, **config: str) -> KeyRing:
    fields = {
        "module": str(MODULE),
        "token_label": customer.label,
        "key_label": CUSTOMER_KEY,
        "pin_file": PIN_FILE,
    } | config
    chosen = CustomerKeyConfig(Path(fields.pop("module")), **fields)
    return replace(
        RING, name=f"{tenant}/*", tenant_id=tenant, provider="cmk", provider_config=chosen.to_json()
    )


# -- the platform's HSM ---------------------------------------------------------------


def test_kek_is_generated_in_the_token_sensitive_and_never_extractable(
    provider: Pkcs11Provider, platform_token: TokenOwner
) -> None:
    provider.create_kek(RING, 1)

    [key] = platform_token.secret_keys()
    assert key["label"] == f"qplane:{RING.name}:v1"
    assert {name: value for name, value in key.items() if name not in ("label", "id")} == {
        "TOKEN": True,
        "PRIVATE": True,
        "SENSITIVE": True,
        "ALWAYS_SENSITIVE": True,
        "EXTRACTABLE": False,
        "NEVER_EXTRACTABLE": True,
        "COPYABLE": False,
        "ENCRYPT": True,
        "DECRYPT": True,
        "WRAP": False,
        "UNWRAP": False,
        "SIGN": False,
        "VERIFY": False,
        "DERIVE": False,
        "VALUE_LEN": 32,
    }
    attempts = platform_token.try_to_extract(key["label"])
    assert attempts["read value"] == "AttributeSensitive"
    assert attempts["wrap out"] == "KeyUnextractable"
    assert attempts["make extractable"] == "AttributeReadOnly"
    assert attempts["copy"] != "ok"


def test_material_references_the_key_object_and_holds_no_key(
    provider: Pkcs11Provider, platform_token: TokenOwner
) -> None:
    material = provider.create_kek(RING, 3)

    [key] = platform_token.secret_keys()
    label = f"qplane:{RING.name}:v3"
    # Format byte, CKA_ID length, the random CKA_ID, the label: nothing else.
    assert material == bytes([1, 16]) + bytes.fromhex(key["id"]) + label.encode()
    assert KeyReference.decode(material) == KeyReference(label, bytes.fromhex(key["id"]))


def test_wrap_and_unwrap_happen_inside_the_token(provider: Pkcs11Provider) -> None:
    kek = _kek(provider, RING)
    data_key = random_key()

    wrapped = provider.wrap(RING, kek, data_key, AAD)

    assert provider.unwrap(RING, kek, wrapped, AAD) == data_key
    assert wrapped[0] == 1
    assert len(wrapped) == 1 + 12 + 32 + 16
    assert data_key.reveal() not in wrapped
    assert provider.wrap(RING, kek, data_key, AAD)[1:13] != wrapped[1:13], "a fresh nonce each time"


def _flip(wrapped: bytes, index: int) -> bytes:
    return wrapped[:index] + bytes([wrapped[index] ^ 1]) + wrapped[index + 1 :]


TAMPERING: Final[
    dict[str, Callable[[bytes, KekVersion, KekVersion], tuple[bytes, bytes, KekVersion]]]
] = {
    "other associated data": lambda w, v1, v2: (w, AAD + b"!", v1),
    "flipped nonce bit": lambda w, v1, v2: (_flip(w, 1), AAD, v1),
    "flipped ciphertext bit": lambda w, v1, v2: (_flip(w, 20), AAD, v1),
    "flipped tag bit": lambda w, v1, v2: (_flip(w, len(w) - 1), AAD, v1),
    "unknown format": lambda w, v1, v2: (b"\x02" + w[1:], AAD, v1),
    "truncated": lambda w, v1, v2: (w[:29], AAD, v1),
    "another version's key": lambda w, v1, v2: (w, AAD, v2),
}


@pytest.mark.parametrize("tampering", sorted(TAMPERING))
def test_tampering_or_the_wrong_key_raises_integrity_error(
    provider: Pkcs11Provider, tampering: str
) -> None:
    v1, v2 = _kek(provider, RING, 1), _kek(provider, RING, 2)
    wrapped, aad, kek = TAMPERING[tampering](provider.wrap(RING, v1, random_key(), AAD), v1, v2)

    with pytest.raises(
        IntegrityError, match=r"^the wrapped data key (failed authentication|is malformed)$"
    ):
        provider.unwrap(RING, kek, wrapped, aad)


def test_destroy_removes_the_key_object_and_unwrap_becomes_unavailable(
    provider: Pkcs11Provider, platform_token: TokenOwner
) -> None:
    kek = _kek(provider, RING)
    wrapped = provider.wrap(RING, kek, random_key(), AAD)

    provider.destroy(RING, kek)

    assert platform_token.secret_keys() == []
    expected = (
        f"the key 'qplane:{RING.name}:v1' of ring '{RING.name}' is missing from "
        f"HSM token '{platform_token.label}' (destroyed or removed)"
    )
    with pytest.raises(KeyUnavailable, match=f"^{re.escape(expected)}$"):
        provider.unwrap(RING, kek, wrapped, AAD)
    provider.destroy(RING, kek)  # already gone: nothing to do


def test_a_disabled_platform_key_is_unavailable(
    provider: Pkcs11Provider, platform_token: TokenOwner
) -> None:
    kek = _kek(provider, RING)
    wrapped = provider.wrap(RING, kek, random_key(), AAD)

    platform_token.set_attribute(f"qplane:{RING.name}:v1", "DECRYPT", False)

    with pytest.raises(
        KeyUnavailable, match=r"is disabled in HSM token .* \(decrypt not permitted\)$"
    ):
        provider.unwrap(RING, kek, wrapped, AAD)


def test_a_token_that_is_not_there_is_unavailable() -> None:
    provider = Pkcs11Provider(Pkcs11Token(MODULE, "no-such-token", _pin("1234")))

    with pytest.raises(
        KeyUnavailable,
        match=rf"^HSM token 'no-such-token' is not available \(ring '{re.escape(RING.name)}'\)",
    ):
        provider.create_kek(RING, 1)


def test_a_wrong_pin_is_unavailable_and_never_shown(platform_token: TokenOwner) -> None:
    wrong = "wrong-" + platform_token.pin
    provider = Pkcs11Provider(
        Pkcs11Token(MODULE, platform_token.label, _pin(wrong), login_retry_s=0)
    )

    with pytest.raises(KeyUnavailable) as refused:
        provider.create_kek(RING, 1)

    assert str(refused.value) == (
        f"the PIN for HSM token '{platform_token.label}' was rejected (ring '{RING.name}')"
    )
    assert wrong not in repr(provider)
    assert "redacted" in repr(provider)


@dataclass
class _Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_rejected_pin_is_not_tried_again_until_the_retry_delay_passes(
    platform_token: TokenOwner,
) -> None:
    clock, pins = _Clock(), ["wrong"]

    def pin() -> SecretBytes:
        pins.append(pins[-1])  # one entry per login attempt
        return SecretBytes(pins[-1].encode())

    provider = Pkcs11Provider(
        Pkcs11Token(MODULE, platform_token.label, pin, login_retry_s=30, clock=clock)
    )
    with pytest.raises(KeyUnavailable, match="was rejected"):
        provider.create_kek(RING, 1)
    pins.append(platform_token.pin)  # the operator fixes the PIN

    with pytest.raises(KeyUnavailable, match=r"was rejected .*; not tried again yet$"):
        provider.create_kek(RING, 1)
    assert len(pins) == 3, "the token was not asked again"

    clock.now += 31
    assert provider.create_kek(RING, 1)


# python-pkcs11 finalises the search that found the session dead from a destructor, which
# fails again on the dead session and is reported as "unraisable": harmless, and expected here.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_the_provider_logs_in_again_after_the_module_restarts(provider: Pkcs11Provider) -> None:
    kek = _kek(provider, RING)
    data_key = random_key()
    wrapped = provider.wrap(RING, kek, data_key, AAD)

    restart_module()  # every session of this process is gone

    assert provider.unwrap(RING, kek, wrapped, AAD) == data_key


def test_many_threads_share_the_token_safely(provider: Pkcs11Provider) -> None:
    kek = _kek(provider, RING)

    def round_trip(_: int) -> bool:
        data_key = random_key()
        return provider.unwrap(RING, kek, provider.wrap(RING, kek, data_key, AAD), AAD) == data_key

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(round_trip, range(64)))


# -- customer-managed keys ---------------------------------------------------------------


def test_a_customer_managed_ring_uses_the_customers_key_and_generates_none(
    customer: TokenOwner, customer_keys: CustomerManagedKeys
) -> None:
    ring = _cmk_ring(customer)
    provider = customer_keys(ring)
    before = customer.secret_keys()

    kek = _kek(provider, ring)

    assert customer.secret_keys() == before
    assert kek.material == KeyReference(CUSTOMER_KEY, bytes.fromhex(before[0]["id"])).encode()
    data_key = random_key()
    assert provider.unwrap(ring, kek, provider.wrap(ring, kek, data_key, AAD), AAD) == data_key


def test_a_customer_who_disables_the_key_makes_it_unavailable_until_re_enabled(
    customer: TokenOwner, customer_keys: CustomerManagedKeys
) -> None:
    ring = _cmk_ring(customer)
    kek = _kek(customer_keys(ring), ring)
    data_key = random_key()
    wrapped = customer_keys(ring).wrap(ring, kek, data_key, AAD)
    disabled = (
        f"the customer-managed key '{CUSTOMER_KEY}' for ring '{ring.name}' is disabled "
        f"in the customer's token '{customer.label}'"
    )

    customer.set_attribute(CUSTOMER_KEY, "DECRYPT", False)
    with pytest.raises(
        KeyUnavailable, match=f"^{re.escape(disabled)} \\(decrypt not permitted\\)$"
    ):
        customer_keys(ring).unwrap(ring, kek, wrapped, AAD)
    customer.set_attribute(CUSTOMER_KEY, "ENCRYPT", False)
    with pytest.raises(
        KeyUnavailable, match=f"^{re.escape(disabled)} \\(encrypt not permitted\\)$"
    ):
        customer_keys(ring).wrap(ring, kek, data_key, AAD)

    customer.set_attribute(CUSTOMER_KEY, "DECRYPT", True)
    customer.set_attribute(CUSTOMER_KEY, "ENCRYPT", True)
    assert customer_keys(ring).unwrap(ring, kek, wrapped, AAD) == data_key
    assert customer_keys(ring).wrap(ring, kek, data_key, AAD)


def test_a_customer_key_that_was_removed_is_unavailable(
    customer: TokenOwner, customer_keys: CustomerManagedKeys
) -> None:
    ring = _cmk_ring(customer)
    kek = _kek(customer_keys(ring), ring)
    wrapped = customer_keys(ring).wrap(ring, kek, random_key(), AAD)

    customer.destroy(CUSTOMER_KEY)

    with pytest.raises(
        KeyUnavailable, match=r"for ring 'ten_acme/\*' is missing from the customer's"
    ):
        customer_keys(ring).unwrap(ring, kek, wrapped, AAD)


def test_a_wrong_customer_pin_is_unavailable_until_the_pin_is_fixed(
    customer: TokenOwner, pin_dir: Path
) -> None:
    pin = pin_dir / TENANT / PIN_FILE
    pin.unlink()
    write_new_secret_file(pin, b"not-the-pin\n")
    keys = CustomerManagedKeys(allowed_modules=[MODULE], pin_dir=pin_dir, login_retry_s=0)
    ring = _cmk_ring(customer)

    with pytest.raises(KeyUnavailable) as refused:
        keys(ring).create_kek(ring, 1)
    assert str(refused.value) == (
        f"the PIN for the customer's token '{customer.label}' was rejected (ring '{ring.name}')"
    )
    assert "not-the-pin" not in str(refused.value)

    pin.unlink()
    write_new_secret_file(pin, customer.pin.encode() + b"\n")
    assert keys(ring).create_kek(ring, 1)
    keys.close()


def test_a_module_outside_the_allow_list_is_refused_before_it_is_loaded(
    customer: TokenOwner, customer_keys: CustomerManagedKeys, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "libevil.so"
    elsewhere.write_bytes(b"\x7fELF not really")
    os.symlink(elsewhere, tmp_path / "libsofthsm2.so")

    for module in (elsewhere, tmp_path / "libsofthsm2.so", Path("/lib/x86_64-linux-gnu/libc.so.6")):
        ring = _cmk_ring(customer, module=str(module))
        with pytest.raises(KeyUnavailable, match=r"PKCS#11 module .* is not on the allow-list$"):
            customer_keys(ring)
        with pytest.raises(ValidationFailed, match="is not on the allow-list"):
            customer_keys.validate(ring.provider_config)

    os.symlink(MODULE, tmp_path / "softhsm-link.so")  # another name for an allowed module
    assert customer_keys(_cmk_ring(customer, module=str(tmp_path / "softhsm-link.so")))


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ('{"module": "/m.so", "token_label": "t", "key_label": "k", "pin": "1234"}', "PIN"),
        (
            '{"module": "/m.so", "token_label": "t", "key_label": "k", "pin_file": "../x/p"}',
            "plain",
        ),
        ('{"module": "m.so", "token_label": "t", "key_label": "k", "pin_file": "p"}', "absolute"),
        ('{"module": "/m.so", "token_label": "t", "key_label": "k"}', "exactly"),
        ("[]", "JSON object"),
    ],
)
def test_a_customer_key_config_names_where_the_pin_is_never_the_pin(
    config: str, problem: str
) -> None:
    with pytest.raises(ValidationFailed, match=problem):
        CustomerKeyConfig.parse(config)


def test_a_tenant_cannot_use_a_token_another_tenant_logged_in_to(
    customer: TokenOwner, customer_keys: CustomerManagedKeys, pin_dir: Path
) -> None:
    ring = _cmk_ring(customer)
    customer_keys(ring).create_kek(ring, 1)  # acme's PIN logged qplane in
    write_new_secret_file(pin_dir / "ten_other" / PIN_FILE, b"a-guess")

    intruder = _cmk_ring(customer, tenant="ten_other")
    with pytest.raises(KeyUnavailable, match=r"^the customer's token .* is not available"):
        customer_keys(intruder)


def test_the_platform_token_cannot_hold_a_customer_key(customer: TokenOwner, pin_dir: Path) -> None:
    keys = CustomerManagedKeys(
        allowed_modules=[MODULE], pin_dir=pin_dir, reserved_tokens=[(MODULE, customer.label)]
    )
    with pytest.raises(ValidationFailed, match="cannot hold a customer key"):
        keys.validate(_cmk_ring(customer).provider_config)


def test_destroying_a_customer_managed_version_leaves_the_customers_key(
    customer: TokenOwner, customer_keys: CustomerManagedKeys
) -> None:
    ring = _cmk_ring(customer)
    kek = _kek(customer_keys(ring), ring)

    customer_keys(ring).destroy(ring, kek)

    assert [key["label"] for key in customer.secret_keys()] == [CUSTOMER_KEY]


def test_a_customer_key_that_is_not_aes_256_is_refused(
    customer: TokenOwner, customer_keys: CustomerManagedKeys
) -> None:
    customer.generate_aes_key("small-kek", bits=128)
    ring = _cmk_ring(customer, key_label="small-kek")

    with pytest.raises(KeyUnavailable, match=r"'small-kek' for ring .* is not an AES-256 key$"):
        customer_keys(ring).create_kek(ring, 1)


# -- through the key hierarchy and a real database ----------------------------------------


@pytest.fixture
def world(sqlite_url: str) -> Iterator[World]:
    database = Database(sqlite_url)
    acme = new_side(database, "acme")
    yield World(database, acme, new_side(database, "globex"), worker=None)  # type: ignore[arg-type]
    database.dispose()


def _labels(owner: TokenOwner, ring: str) -> list[str]:
    return sorted(
        key["label"] for key in owner.secret_keys() if key["label"].startswith(f"qplane:{ring}:")
    )


def test_hierarchy_seals_rotates_rewraps_and_shreds_with_keks_in_the_hsm(
    world: World, provider: Pkcs11Provider, platform_token: TokenOwner
) -> None:
    hierarchy = KeyHierarchy(
        KeyProviders(LocalKeyring(random_key()), default="pkcs11", others={"pkcs11": provider})
    )
    tenant, job = world.a.tenant.id, world.job(world.a)
    world.add_jobs(job)
    binding = ArtifactBinding(tenant, world.a.project.id, job.id, "result")
    with world.db.unit_of_work() as uow:
        ring = hierarchy.create_ring(uow, tenant)
        uow.artifacts.put(tenant, job.id, "result", hierarchy.seal(uow, b"counts", binding))
        uow.commit()
    assert ring.provider == "pkcs11"

    with world.db.unit_of_work() as uow:
        hierarchy.rotate(uow, ring.name)
        assert hierarchy.rewrap(uow, ring.name) == 1
        uow.commit()
    with world.db.unit_of_work() as uow:
        sealed = uow.artifacts.get(tenant, job.id, "result")
        assert sealed.kek_version == 2
        assert hierarchy.open(uow, sealed, binding) == b"counts"
        stored = {kek.version: kek.material for kek in uow.key_rings.versions(ring.name)}
    in_token = {key["label"]: bytes.fromhex(key["id"]) for key in platform_token.secret_keys()}
    assert stored == {
        version: KeyReference(label, in_token[label]).encode()
        for version, label in ((1, f"qplane:{ring.name}:v1"), (2, f"qplane:{ring.name}:v2"))
    }

    with world.db.unit_of_work() as uow:
        evidence = hierarchy.shred(uow, ring.name)
        uow.commit()
    assert evidence.versions == (1, 2)
    assert _labels(platform_token, ring.name) == []
    with world.db.unit_of_work() as uow, pytest.raises(KeyUnavailable, match="crypto-shredded"):
        hierarchy.open(uow, uow.artifacts.get(tenant, job.id, "result"), binding)
    # Even a backup of the database, references included, opens nothing any more.
    backup = KekVersion(ring.name, 2, KekState.ACTIVE, EPOCH, stored[2], provider="pkcs11")
    with pytest.raises(KeyUnavailable, match="is missing from HSM token"):
        provider.unwrap(ring, backup, sealed.wrapped_key, b"any associated data")


def test_a_ring_moves_from_the_hsm_to_the_customers_key_and_follows_its_state(
    world: World,
    provider: Pkcs11Provider,
    platform_token: TokenOwner,
    customer: TokenOwner,
    pin_dir: Path,
) -> None:
    keys = CustomerManagedKeys(allowed_modules=[MODULE], pin_dir=pin_dir, login_retry_s=0)
    hierarchy = KeyHierarchy(
        KeyProviders(
            LocalKeyring(random_key()),
            default="pkcs11",
            others={"pkcs11": provider},
            customer_managed=keys,
        )
    )
    tenant, job = world.a.tenant.id, world.job(world.a)
    world.add_jobs(job)
    binding = ArtifactBinding(tenant, world.a.project.id, job.id, "result")
    write_new_secret_file(pin_dir / tenant / PIN_FILE, customer.pin.encode())
    config = CustomerKeyConfig(MODULE, customer.label, CUSTOMER_KEY, PIN_FILE).to_json()
    with world.db.unit_of_work() as uow:
        ring = hierarchy.create_ring(uow, tenant)
        uow.artifacts.put(tenant, job.id, "result", hierarchy.seal(uow, b"counts", binding))
        hierarchy.rotate(uow, ring.name, provider="cmk", provider_config=config)
        assert hierarchy.rewrap(uow, ring.name) == 1
        assert hierarchy.retire_below(uow, ring.name, 2) == [1]
        uow.commit()
    assert _labels(platform_token, ring.name) == []

    customer.set_attribute(CUSTOMER_KEY, "DECRYPT", False)
    with world.db.unit_of_work() as uow, pytest.raises(KeyUnavailable, match="is disabled"):
        hierarchy.open(uow, uow.artifacts.get(tenant, job.id, "result"), binding)
    customer.set_attribute(CUSTOMER_KEY, "DECRYPT", True)
    with world.db.unit_of_work() as uow:
        assert (
            hierarchy.open(uow, uow.artifacts.get(tenant, job.id, "result"), binding) == b"counts"
        )
    keys.close()


def test_qplane_key_provider_pkcs11_makes_new_rings_use_the_hsm(
    tmp_path: Path, sqlite_url: str, platform_token: TokenOwner
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=sqlite_url,
        key_provider="pkcs11",
        pkcs11_module=MODULE,
        pkcs11_token_label=platform_token.label,
        pkcs11_pin=platform_token.pin,
    )
    platform = build_platform(settings, upgrade=False)
    acme = new_side(platform.database, "acme")
    try:
        with platform.database.unit_of_work() as uow:
            ring = platform.key_hierarchy.create_ring(uow, acme.tenant.id)
            uow.commit()
        assert ring.provider == "pkcs11"
        assert _labels(platform_token, ring.name) == [f"qplane:{ring.name}:v1"]
        assert isinstance(platform.key_hierarchy.providers.named("local"), LocalKeyring)
    finally:
        platform.key_hierarchy.providers.named("pkcs11").close()  # type: ignore[attr-defined]
        platform.close()
