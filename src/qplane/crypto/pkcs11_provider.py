"""KEKs inside PKCS#11 tokens: the platform's HSM (``pkcs11``) and tenants' own keys (``cmk``).

`Pkcs11Provider` generates each KEK version of a ring inside the
platform's token. `CustomerKeyProvider` uses a key that the tenant
generated, and controls, in a token of its own (built per ring by
`qplane.crypto.customer_keys.CustomerManagedKeys`).

Security properties:

* A KEK never leaves its token. qplane generates its KEKs there as token
  objects that are private, sensitive, never extractable, not copyable and
  usable only to encrypt and decrypt; what the store keeps is a
  `KeyReference` (format byte, CKA_ID, label), never key bytes.
* Wrapping is AES-256-GCM inside the token with a fresh 96-bit nonce and
  the caller's associated data: blob = format byte ‖ nonce ‖ ciphertext ‖
  tag. A blob that fails authentication (another key, other associated
  data, a flipped bit) raises `IntegrityError`, whose message holds nothing
  secret.
* A missing or destroyed key, a key the token will not let encrypt or
  decrypt (a customer disabled it), an absent token and a rejected PIN
  raise `KeyUnavailable`, naming the ring, the key and the cause.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11.mechanisms import GCMParams
from pkcs11.types import DecryptMixin, EncryptMixin, Session

from qplane.crypto.errors import KeyUnavailable
from qplane.crypto.keyring import KeyProvider
from qplane.crypto.pkcs11_token import PinSource, Pkcs11Token, cause, pin_file
from qplane.crypto.providers import CUSTOMER_MANAGED
from qplane.crypto.secret_bytes import SecretBytes
from qplane.domain.errors import IntegrityError
from qplane.domain.keys import KekVersion, KeyRing

if TYPE_CHECKING:
    from qplane.config import Settings

PKCS11: Final = "pkcs11"
_REFERENCE_FORMAT: Final = 1
_BLOB_FORMAT: Final = 1
_NONCE_BYTES: Final = 12
_TAG_BYTES: Final = 16
_KEK_BYTES: Final = 32
_KEY_ID_BYTES: Final = 16
_PROBE_AAD: Final = b"qplane/cmk-check"
#: python-pkcs11 has no exception class for CKR_KEY_FUNCTION_NOT_PERMITTED (0x68).
_FUNCTION_NOT_PERMITTED: Final = "Unmapped error code 0x68"
#: A failed GCM tag: CKR_ENCRYPTED_DATA_INVALID from HSMs, CKR_GENERAL_ERROR from SoftHSM.
_AUTHENTICATION_FAILED: Final = (
    pkcs11.EncryptedDataInvalid,
    pkcs11.EncryptedDataLenRange,
    pkcs11.GeneralError,
)
_KEY_GONE: Final = (pkcs11.NoSuchKey, pkcs11.KeyHandleInvalid, pkcs11.ObjectHandleInvalid)

T = TypeVar("T")
_Use = TypeVar("_Use", EncryptMixin, DecryptMixin)
_USES: Final[dict[type, tuple[Attribute, str]]] = {
    EncryptMixin: (Attribute.ENCRYPT, "encrypt"),
    DecryptMixin: (Attribute.DECRYPT, "decrypt"),
}


@dataclass(frozen=True, slots=True)
class KeyReference:
    """What the store keeps for a KEK in a token: how to find the key object, never the key."""

    label: str
    #: The object's CKA_ID; empty for a customer's key that has none.
    key_id: bytes = b""

    def encode(self) -> bytes:
        return bytes([_REFERENCE_FORMAT, len(self.key_id)]) + self.key_id + self.label.encode()

    @classmethod
    def decode(cls, material: bytes | None) -> KeyReference:
        if material is None:
            raise KeyUnavailable("this key version has been destroyed")
        if len(material) < 2 or material[0] != _REFERENCE_FORMAT or len(material) < 2 + material[1]:
            raise IntegrityError("the stored PKCS#11 key reference is malformed")
        end = 2 + material[1]
        try:
            return cls(material[end:].decode(), material[2:end])
        except UnicodeDecodeError:
            raise IntegrityError("the stored PKCS#11 key reference is malformed") from None

    def template(self) -> dict[Attribute, Any]:
        """Attributes that find exactly this key object."""
        found: dict[Attribute, Any] = {
            Attribute.CLASS: ObjectClass.SECRET_KEY,
            Attribute.KEY_TYPE: KeyType.AES,
            Attribute.LABEL: self.label,
        }
        if self.key_id:
            found[Attribute.ID] = self.key_id
        return found


class Pkcs11Provider:
    """A `KeyProvider` whose KEKs are AES-256 key objects generated inside a PKCS#11 token."""

    name: str = PKCS11

    def __init__(self, token: Pkcs11Token) -> None:
        self.token = token

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.token!r})"

    @classmethod
    def from_settings(cls, settings: Settings) -> Pkcs11Provider:
        """The platform's HSM: ``QPLANE_PKCS11_MODULE``, ``…_TOKEN_LABEL``, ``…_PIN(_FILE)``.

        Nothing is loaded or logged in to until the first ring needs the token.
        """
        if settings.pkcs11_module is None:
            raise KeyUnavailable("QPLANE_KEY_PROVIDER=pkcs11 needs QPLANE_PKCS11_MODULE")
        token = Pkcs11Token(
            settings.pkcs11_module,
            settings.pkcs11_token_label,
            _platform_pin(settings),
            login_retry_s=settings.pkcs11_login_retry_s,
        )
        return cls(token)

    def create_kek(self, ring: KeyRing, version: int) -> bytes:
        """Generate the KEK in the token as ``qplane:<ring>:v<version>``; returns a reference."""
        reference = KeyReference(
            f"qplane:{ring.name}:v{version}", secrets.token_bytes(_KEY_ID_BYTES)
        )

        def generate(session: Session) -> None:
            session.generate_key(
                KeyType.AES,
                _KEK_BYTES * 8,
                id=reference.key_id,
                label=reference.label,
                store=True,
                # Every other use (wrap, unwrap, sign, verify, derive) is left false.
                capabilities=MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT,
                template={
                    Attribute.PRIVATE: True,
                    Attribute.SENSITIVE: True,
                    Attribute.EXTRACTABLE: False,
                    # A copy would survive the crypto-shred that destroys the original.
                    Attribute.COPYABLE: False,
                },
            )

        self._use(ring, reference, generate)
        return reference.encode()

    def wrap(self, ring: KeyRing, kek: KekVersion, data_key: SecretBytes, aad: bytes) -> bytes:
        reference = KeyReference.decode(kek.material)
        nonce = secrets.token_bytes(_NONCE_BYTES)

        def encrypt(session: Session) -> bytes:
            key = self._usable(session, ring, reference, EncryptMixin)
            return _seal(key, nonce, data_key.reveal(), aad)

        return bytes([_BLOB_FORMAT]) + nonce + self._use(ring, reference, encrypt)

    def unwrap(self, ring: KeyRing, kek: KekVersion, wrapped: bytes, aad: bytes) -> SecretBytes:
        reference = KeyReference.decode(kek.material)
        if len(wrapped) <= 1 + _NONCE_BYTES + _TAG_BYTES or wrapped[0] != _BLOB_FORMAT:
            raise IntegrityError("the wrapped data key is malformed")
        nonce, sealed = wrapped[1 : 1 + _NONCE_BYTES], wrapped[1 + _NONCE_BYTES :]

        def decrypt(session: Session) -> bytes:
            key = self._usable(session, ring, reference, DecryptMixin)
            return _open(key, nonce, sealed, aad)

        return SecretBytes(self._use(ring, reference, decrypt))

    def destroy(self, ring: KeyRing, kek: KekVersion) -> None:
        """Destroy the key object (C_DestroyObject); one already gone is not an error."""
        reference = KeyReference.decode(kek.material)

        def destroy(session: Session) -> None:
            for found in list(session.get_objects(reference.template())):
                found.destroy()

        self._use(ring, reference, destroy)

    def close(self) -> None:
        self.token.close()

    def key_name(self, ring: KeyRing, reference: KeyReference) -> str:
        """How messages name a key: where it should be, never anything of its value."""
        return f"the key {reference.label!r} of ring {ring.name!r}"

    def _usable(
        self, session: Session, ring: KeyRing, reference: KeyReference, use: type[_Use]
    ) -> _Use:
        """The referenced key, if the token lets it *use* (encrypt or decrypt)."""
        key = session.get_key(
            ObjectClass.SECRET_KEY, KeyType.AES, reference.label, reference.key_id or None
        )
        attribute, verb = _USES[use]
        # python-pkcs11 gives a key encrypt/decrypt methods only when the token permits them.
        if not key[attribute] or not isinstance(key, use):
            raise KeyUnavailable(
                f"{self.key_name(ring, reference)} is disabled in {self.token.description} "
                f"({verb} not permitted)"
            )
        return key

    def _use(self, ring: KeyRing, reference: KeyReference, operation: Callable[[Session], T]) -> T:
        """Run *operation* in the token, turning the token's refusals into `KeyUnavailable`."""
        try:
            return self.token.run(operation, ring=ring.name)
        except _KEY_GONE:
            problem = f"is missing from {self.token.description} (destroyed or removed)"
        except pkcs11.MultipleObjectsReturned:
            problem = f"is ambiguous: {self.token.description} holds several matching keys"
        except pkcs11.PKCS11Error as exc:
            if str(exc) != _FUNCTION_NOT_PERMITTED:
                raise KeyUnavailable(
                    f"{self.token.description} refused to use {self.key_name(ring, reference)}: "
                    f"{cause(exc)}"
                ) from None
            problem = f"is disabled in {self.token.description}"
        raise KeyUnavailable(f"{self.key_name(ring, reference)} {problem}")


class CustomerKeyProvider(Pkcs11Provider):
    """A `KeyProvider` over a key the customer generated, and controls, in its own token.

    qplane never generates, changes or destroys the customer's key: each
    KEK version references it by label (and CKA_ID, when it has one), so
    the customer can disable or remove it at any time, and qplane answers
    `KeyUnavailable` until it is usable again. Shredding a customer-managed
    ring erases qplane's references; the customer destroys the key itself.
    """

    name: str = CUSTOMER_MANAGED

    def __init__(self, token: Pkcs11Token, key_label: str) -> None:
        super().__init__(token)
        self.key_label = key_label

    def create_kek(self, ring: KeyRing, version: int) -> bytes:
        """Check that the customer's key exists, is AES-256 and works; returns a reference."""
        wanted = KeyReference(self.key_label)

        def check(session: Session) -> KeyReference:
            encrypting = self._usable(session, ring, wanted, EncryptMixin)
            decrypting = self._usable(session, ring, wanted, DecryptMixin)
            if encrypting[Attribute.VALUE_LEN] != _KEK_BYTES:
                raise KeyUnavailable(f"{self.key_name(ring, wanted)} is not an AES-256 key")
            probe, nonce = secrets.token_bytes(_KEK_BYTES), secrets.token_bytes(_NONCE_BYTES)
            if (
                _open(decrypting, nonce, _seal(encrypting, nonce, probe, _PROBE_AAD), _PROBE_AAD)
                != probe
            ):
                raise KeyUnavailable(
                    f"{self.key_name(ring, wanted)} does not decrypt what it encrypts"
                )
            return KeyReference(self.key_label, bytes(encrypting[Attribute.ID] or b""))

        return self._use(ring, wanted, check).encode()

    def destroy(self, ring: KeyRing, kek: KekVersion) -> None:
        """Leave the customer's key alone: it is theirs (the store erases the reference)."""

    def key_name(self, ring: KeyRing, reference: KeyReference) -> str:
        return f"the customer-managed key {reference.label!r} for ring {ring.name!r}"


def platform_hsm_providers(settings: Settings) -> dict[str, KeyProvider]:
    """``{"pkcs11": provider}`` when ``QPLANE_PKCS11_MODULE`` names an HSM, else ``{}``."""
    if settings.pkcs11_module is None and settings.key_provider != PKCS11:
        return {}
    return {PKCS11: Pkcs11Provider.from_settings(settings)}


def _platform_pin(settings: Settings) -> PinSource:
    if settings.pkcs11_pin is not None:
        pin = SecretBytes(settings.pkcs11_pin.get_secret_value().encode())
        return lambda: pin
    if settings.pkcs11_pin_file is None:
        raise KeyUnavailable(
            "the pkcs11 key provider needs QPLANE_PKCS11_PIN or QPLANE_PKCS11_PIN_FILE"
        )
    return pin_file(settings.pkcs11_pin_file)


def _seal(key: EncryptMixin, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    params = GCMParams(nonce, aad)
    # Bytes in, bytes out (an iterator only for an iterator of chunks).
    return cast(bytes, key.encrypt(plaintext, mechanism=Mechanism.AES_GCM, mechanism_param=params))


def _open(key: DecryptMixin, nonce: bytes, sealed: bytes, aad: bytes) -> bytes:
    params = GCMParams(nonce, aad)
    try:
        return cast(bytes, key.decrypt(sealed, mechanism=Mechanism.AES_GCM, mechanism_param=params))
    except _AUTHENTICATION_FAILED:
        raise IntegrityError("the wrapped data key failed authentication") from None
