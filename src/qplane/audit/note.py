"""C2SP signed notes (c2sp.org/signed-note): text signed by one or more named keys.

A note is UTF-8 text ending in a newline, a blank line, then one line per
signature::

    — <key name> base64(key ID (4 bytes, big-endian) || signature)

The key ID is ``SHA-256(key name || 0x0A || signature type || public key)[:4]``
and a verifier key is published as the text ``<name>+<key ID in 8 lowercase
hex digits>+base64(signature type || public key)`` (the "vkey" of
golang.org/x/mod/sumdb/note, byte-compatible with it for Ed25519).

Two signature types:

* ``0x01``, Ed25519 over the note text, exactly as the specification
  assigns it, so any signed-note verifier (the Go module, witnesses) can
  check qplane's checkpoints;
* qplane's composite ML-DSA-65 + Ed25519 signature
  (`qplane.crypto.hybrid_signature`, context ``"qplane/signed-note/v1"``)
  over the note text, for verifiers that must survive a quantum computer.
  The specification assigns no byte to ML-DSA-65 (``0x06`` is ML-DSA-44
  *cosignatures*, which sign a different, binary message), and reserves
  ``0xff`` for unassigned types, to be followed by "a longer identifier that
  is unlikely to collide". The composite's type is therefore the byte
  ``0xff`` followed by the ASCII label ``qplane/signed-note/MLDSA65-Ed25519/v1``
  and a newline, which ends the label so that no other label is a prefix of
  it. This is qplane's own experimental identifier, not a registered one.

Security properties of `verify_note`: it returns the text only if *every*
required verifier signed it; a signature line naming a required key (name
and key ID) that fails to verify rejects the whole note; lines from unknown
keys are ignored, as the specification requires; anything malformed
(control characters, a missing blank line, a bad signature line, trailing
text, non-canonical base64) raises `IntegrityError`, whose message names the
key but never carries key material.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from typing import Final, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from qplane.crypto import hybrid_signature
from qplane.crypto.hybrid_signature import HybridSignaturePrivateKey, HybridSignaturePublicKey
from qplane.domain.errors import IntegrityError

ED25519_TYPE: Final = b"\x01"
HYBRID_LABEL: Final = "qplane/signed-note/MLDSA65-Ed25519/v1"
HYBRID_TYPE: Final = b"\xff" + HYBRID_LABEL.encode("ascii") + b"\n"
#: The composite signature's context: a note signature is never valid elsewhere.
HYBRID_CONTEXT: Final = "qplane/signed-note/v1"

SIGNATURE_PREFIX: Final = "\u2014 "
#: Go's limit; C2SP requires accepting at least 16.
MAX_SIGNATURES: Final = 100
#: Room for MAX_SIGNATURES composite signatures (about 4.6 kB each in base64).
MAX_NOTE_BYTES: Final = 1 << 20
_KEY_ID_BYTES: Final = 4


class NoteSigner(Protocol):
    """A named key that signs note text."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> int: ...

    def sign(self, text: bytes) -> bytes: ...


class NoteVerifier(Protocol):
    """A named public key that checks note signatures, publishable as a vkey."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> int: ...

    @property
    def vkey(self) -> str: ...

    def verify(self, text: bytes, signature: bytes) -> bool: ...


def key_id(name: str, signature_type: bytes, public_key: bytes) -> int:
    """``SHA-256(name || 0x0A || signature type || public key)[:4]`` as a big-endian uint32."""
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + signature_type + public_key).digest()
    return int.from_bytes(digest[:_KEY_ID_BYTES], "big")


def is_valid_key_name(name: str) -> bool:
    """Non-empty, and no Unicode space, plus sign or control character (c2sp.org/signed-note)."""
    return bool(name) and not any(c.isspace() or c == "+" or c < " " for c in name)


class _NamedKey:
    """Name, signature type and public key: everything a vkey and a key ID are made of."""

    def __init__(self, name: str, signature_type: bytes, public_key: bytes) -> None:
        if not is_valid_key_name(name):
            raise ValueError("a key name is non-empty, without spaces or '+'")
        self._name = name
        self._type_and_key = signature_type + public_key
        self._key_id = key_id(name, signature_type, public_key)

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_id(self) -> int:
        return self._key_id

    @property
    def vkey(self) -> str:
        """``<name>+<key ID hex>+base64(type || public key)``, to publish for verifiers."""
        material = base64.b64encode(self._type_and_key).decode("ascii")
        return f"{self._name}+{self._key_id:08x}+{material}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._name}+{self._key_id:08x})"


class Ed25519NoteVerifier(_NamedKey):
    """Signature type 0x01: Ed25519 (RFC 8032) over the note text."""

    def __init__(self, name: str, public_key: ed25519.Ed25519PublicKey) -> None:
        super().__init__(name, ED25519_TYPE, public_key.public_bytes_raw())
        self._public_key = public_key

    def verify(self, text: bytes, signature: bytes) -> bool:
        try:
            self._public_key.verify(signature, text)
        except InvalidSignature:
            return False
        return True


class Ed25519NoteSigner(_NamedKey):
    """Signs notes with an Ed25519 key; never prints it."""

    def __init__(self, name: str, private_key: ed25519.Ed25519PrivateKey) -> None:
        super().__init__(name, ED25519_TYPE, private_key.public_key().public_bytes_raw())
        self._private_key = private_key

    def sign(self, text: bytes) -> bytes:
        return self._private_key.sign(text)

    def verifier(self) -> Ed25519NoteVerifier:
        return Ed25519NoteVerifier(self.name, self._private_key.public_key())


class HybridNoteVerifier(_NamedKey):
    """qplane's composite ML-DSA-65 + Ed25519 signature over the note text (type 0xff…)."""

    def __init__(self, name: str, public_key: HybridSignaturePublicKey) -> None:
        super().__init__(name, HYBRID_TYPE, public_key.raw)
        self._public_key = public_key

    def verify(self, text: bytes, signature: bytes) -> bool:
        try:
            hybrid_signature.verify(self._public_key, text, signature, HYBRID_CONTEXT)
        except IntegrityError:
            return False
        return True


class HybridNoteSigner(_NamedKey):
    """Signs notes with a composite key; never prints it."""

    def __init__(self, name: str, private_key: HybridSignaturePrivateKey) -> None:
        super().__init__(name, HYBRID_TYPE, private_key.public_key().raw)
        self._private_key = private_key

    def sign(self, text: bytes) -> bytes:
        return hybrid_signature.sign(self._private_key, text, HYBRID_CONTEXT)

    def verifier(self) -> HybridNoteVerifier:
        return HybridNoteVerifier(self.name, self._private_key.public_key())


def parse_vkey(vkey: str) -> NoteVerifier:
    """The verifier a vkey describes; `IntegrityError` if malformed, unknown or mislabelled."""
    name, _, rest = vkey.partition("+")
    hex_id, _, material = rest.partition("+")
    raw = _strict_b64decode(material)
    if len(hex_id) != 8 or hex_id != hex_id.lower() or raw is None or not raw:
        raise IntegrityError("malformed verifier key")
    try:
        verifier = _verifier_for(name, raw)
    except ValueError:
        raise IntegrityError("malformed verifier key") from None
    if f"{verifier.key_id:08x}" != hex_id:
        raise IntegrityError("verifier key ID does not match its key")
    return verifier


def _verifier_for(name: str, raw: bytes) -> NoteVerifier:
    if raw.startswith(ED25519_TYPE):
        key = raw[len(ED25519_TYPE) :]
        if len(key) != 32:
            raise ValueError("an Ed25519 public key is 32 bytes")
        return Ed25519NoteVerifier(name, ed25519.Ed25519PublicKey.from_public_bytes(key))
    if raw.startswith(HYBRID_TYPE):
        public_key = HybridSignaturePublicKey(raw[len(HYBRID_TYPE) :])
        return HybridNoteVerifier(name, public_key)
    raise IntegrityError("unknown verifier key algorithm")


def sign_note(text: str, signers: Sequence[NoteSigner]) -> str:
    """*text* followed by a blank line and one signature line per signer, in order."""
    if not text.endswith("\n") or any(c < " " and c != "\n" for c in text):
        raise ValueError("note text ends with a newline and has no other control character")
    body = text.encode("utf-8")
    if not signers or len({(s.name, s.key_id) for s in signers}) != len(signers):
        raise ValueError("sign with at least one key, each key once")
    lines = []
    for signer in signers:
        if not is_valid_key_name(signer.name):
            raise ValueError("a key name is non-empty, without spaces or '+'")
        blob = signer.key_id.to_bytes(_KEY_ID_BYTES, "big") + signer.sign(body)
        lines.append(f"{SIGNATURE_PREFIX}{signer.name} {base64.b64encode(blob).decode('ascii')}\n")
    return text + "\n" + "".join(lines)


def verify_note(note: str | bytes, verifiers: Sequence[NoteVerifier]) -> str:
    """The note's text, if every one of *verifiers* signed it; otherwise `IntegrityError`.

    Signatures by keys not in *verifiers* are ignored. A signature by a
    required key that does not verify, and any malformation, reject the note.
    """
    required = _index(verifiers)
    text, lines = _split(note)
    body = text.encode("utf-8")
    signed: set[tuple[str, int]] = set()
    for line in lines:
        name, key, signature = _parse_signature_line(line)
        verifier = required.get((name, key))
        if verifier is None:
            continue
        if not verifier.verify(body, signature):
            raise IntegrityError(f"signed note: invalid signature by {name}+{key:08x}")
        signed.add((name, key))
    missing = sorted(f"{name}+{key:08x}" for name, key in required.keys() - signed)
    if missing:
        raise IntegrityError(f"signed note: no signature by {', '.join(missing)}")
    return text


def _index(verifiers: Sequence[NoteVerifier]) -> dict[tuple[str, int], NoteVerifier]:
    required = {(v.name, v.key_id): v for v in verifiers}
    if not required or len(required) != len(verifiers):
        raise ValueError("verify with at least one key, each key once")
    return required


def _split(note: str | bytes) -> tuple[str, list[str]]:
    """(text, signature lines) of a well-formed note."""
    try:
        raw = note if isinstance(note, bytes) else note.encode("utf-8")
    except UnicodeEncodeError:
        raise IntegrityError("malformed note: not UTF-8") from None
    if len(raw) > MAX_NOTE_BYTES:
        raise IntegrityError("malformed note: too large")
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise IntegrityError("malformed note: not UTF-8") from None
    if any(c < " " and c != "\n" for c in decoded):
        raise IntegrityError("malformed note: control character")
    split = decoded.rfind("\n\n")
    if split < 0:
        raise IntegrityError("malformed note: no blank line before the signatures")
    text, signatures = decoded[: split + 1], decoded[split + 2 :]
    if not signatures.endswith("\n"):
        raise IntegrityError("malformed note: no signature, or text after the signatures")
    lines = signatures[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise IntegrityError("malformed note: too many signatures")
    return text, lines


def _parse_signature_line(line: str) -> tuple[str, int, bytes]:
    if not line.startswith(SIGNATURE_PREFIX):
        raise IntegrityError("malformed note: a signature line must start with an em dash")
    name, _, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
    blob = _strict_b64decode(encoded)
    if not is_valid_key_name(name) or blob is None or len(blob) <= _KEY_ID_BYTES:
        raise IntegrityError("malformed note: bad signature line")
    return name, int.from_bytes(blob[:_KEY_ID_BYTES], "big"), blob[_KEY_ID_BYTES:]


def _strict_b64decode(text: str) -> bytes | None:
    """Standard base64 in its one canonical spelling, or None."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if base64.b64encode(raw).decode("ascii") == text else None
