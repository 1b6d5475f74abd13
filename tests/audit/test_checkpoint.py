"""Signed checkpoints: C2SP tlog-checkpoint bodies in C2SP signed notes.

Known answers, copied verbatim:

* golang/mod, ``sumdb/note/note_test.go`` (commit
  02c991387e35f9e4c0a9b7ce137717055f8d716d): the PeterNeumann signer key
  ``PRIVATE+KEY+PeterNeumann+c74f20a3+…``, its verifier key, the note text
  and the exact signed note of ``TestSign``; the EnochRoot verifier key and
  signature of ``TestOpen``; the mangled keys of ``TestNewVerifier`` and the
  malformed notes of ``TestOpen``.
* A real checkpoint of the Go checksum database (origin ``go.sum database
  tree``, size 31700353), quoted in transparency-dev/trillian-tessera,
  ``internal/parse/parse_test.go`` (``BenchmarkCheckpointUnsafe``; quoted
  there without the final newline, restored here), verified with the
  sum.golang.org verifier key from golang/go,
  ``src/cmd/go/internal/modfetch/key.go``.

The rest is a specification of `parse_and_verify`: a checkpoint comes back
only when every required key signed it, for the log the caller named;
tampering with any line, a wrong key, another log's checkpoint, reordered
or extra lines, and trailing garbage all raise `IntegrityError`.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from qplane.audit.checkpoint import Checkpoint, parse_and_verify, sign_checkpoint
from qplane.audit.merkle import leaf_hash
from qplane.audit.merkle_tree import InMemoryNodeStore, MerkleTree
from qplane.audit.note import (
    HYBRID_TYPE,
    Ed25519NoteSigner,
    Ed25519NoteVerifier,
    HybridNoteSigner,
    HybridNoteVerifier,
    NoteVerifier,
    parse_vkey,
    sign_note,
    verify_note,
)
from qplane.crypto.hybrid_signature import HybridSignaturePrivateKey
from qplane.domain.errors import IntegrityError

PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvq"
    "fqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTG"
    "wnWLox33WWd1RvMc+QQ=\n"
)

SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_CHECKPOINT = (
    "go.sum database tree\n"
    "31700353\n"
    "qINS1GRFhWHwdkUeqLEoP4yEMkTBBzxBkGwGQlVlVcs=\n"
    "\n"
    "— sum.golang.org Az3grnmrIUEDFqHzAElIQCPNoRFRAAdFo47fooyWKMHb89k11GJh5zHIfNCOBmwn/C3YI"
    "8oW9/C8DJ87F61QqspBYwM=\n"
)

ORIGIN = "qplane.example/audit/ten_a"
ROOT = hashlib.sha256(b"a root").digest()
SIGNED_AT = datetime(2026, 3, 1, 12, 30, 5, tzinfo=UTC)


def _peter() -> Ed25519NoteSigner:
    seed = base64.b64decode(PETER_SKEY.split("+", 4)[4])
    assert seed[0] == 0x01  # signature type Ed25519, then the 32-byte seed
    return Ed25519NoteSigner("PeterNeumann", ed25519.Ed25519PrivateKey.from_private_bytes(seed[1:]))


@pytest.fixture(scope="module")
def log_key() -> Ed25519NoteSigner:
    return Ed25519NoteSigner(ORIGIN, ed25519.Ed25519PrivateKey.generate())


@pytest.fixture(scope="module")
def pq_key() -> HybridNoteSigner:
    return HybridNoteSigner(ORIGIN, HybridSignaturePrivateKey.generate())


@pytest.fixture(scope="module")
def both(log_key: Ed25519NoteSigner, pq_key: HybridNoteSigner) -> list[NoteVerifier]:
    return [log_key.verifier(), pq_key.verifier()]


@pytest.fixture(scope="module")
def signed(log_key: Ed25519NoteSigner, pq_key: HybridNoteSigner) -> str:
    return sign_checkpoint(ORIGIN, 42, ROOT, [log_key, pq_key], timestamp=SIGNED_AT)


# -- Known answers -------------------------------------------------------------------------------


def test_an_ed25519_note_matches_the_go_implementation_byte_for_byte() -> None:
    signer = _peter()
    assert signer.vkey == PETER_VKEY
    assert signer.key_id == 0xC74F20A3
    assert sign_note(TEXT, [signer]) == TEXT + "\n" + PETER_SIG


def test_go_notes_verify_and_unknown_signatures_are_ignored() -> None:
    peter, enoch = parse_vkey(PETER_VKEY), parse_vkey(ENOCH_VKEY)
    note = TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert verify_note(note, [peter]) == TEXT
    assert verify_note(note, [enoch]) == TEXT
    assert verify_note(note, [peter, enoch]) == TEXT
    with pytest.raises(IntegrityError, match=r"no signature by EnochRoot\+af0cfe78"):
        verify_note(TEXT + "\n" + PETER_SIG, [peter, enoch])


def test_a_real_go_checksum_database_checkpoint_verifies() -> None:
    checkpoint = parse_and_verify(
        SUMDB_CHECKPOINT, [parse_vkey(SUMDB_VKEY)], origin="go.sum database tree"
    )
    assert checkpoint == Checkpoint(
        origin="go.sum database tree",
        size=31700353,
        root_hash=base64.b64decode("qINS1GRFhWHwdkUeqLEoP4yEMkTBBzxBkGwGQlVlVcs="),
    )
    tampered = SUMDB_CHECKPOINT.replace("31700353", "31700354")
    with pytest.raises(IntegrityError, match=r"invalid signature by sum\.golang\.org"):
        parse_and_verify(tampered, [parse_vkey(SUMDB_VKEY)], origin="go.sum database tree")


def test_the_go_mangled_verifier_keys_are_rejected() -> None:
    for start in range(len(PETER_VKEY) + 1):
        for end in range(start + 1, len(PETER_VKEY) + 1):
            if (start, end) != (0, len(PETER_VKEY)):
                with pytest.raises(IntegrityError):
                    parse_vkey(PETER_VKEY[start:end])
    for i in range(len(PETER_VKEY)):
        mangled = PETER_VKEY[:i] + chr(ord(PETER_VKEY[i]) + 1) + PETER_VKEY[i + 1 :]
        with pytest.raises(IntegrityError):
            parse_vkey(mangled)
    wrong_length = "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
    unknown_algorithm = "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    for vkey in (wrong_length, unknown_algorithm):
        with pytest.raises(IntegrityError):
            parse_vkey(vkey)


@pytest.mark.parametrize(
    "note",
    [
        TEXT,
        TEXT + "\n",
        TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + TEXT + "\n" + PETER_SIG,
        b"\xff" + (TEXT + "\n" + PETER_SIG).encode(),
        TEXT + "\n" + "— Bad Name " + PETER_SIG.split(" ")[2],
        TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        TEXT + "\n" + PETER_SIG * 101,
    ],
)
def test_the_go_malformed_notes_are_rejected(note: str | bytes) -> None:
    with pytest.raises(IntegrityError, match="malformed note"):
        verify_note(note, [parse_vkey(PETER_VKEY)])


def test_a_corrupted_signature_from_a_required_key_rejects_the_note() -> None:
    corrupted = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(IntegrityError):
        verify_note(TEXT + "\n" + corrupted, [parse_vkey(PETER_VKEY)])


# -- Round trip and key formats ------------------------------------------------------------------


def test_a_checkpoint_signed_with_both_keys_round_trips(
    signed: str, both: list[NoteVerifier]
) -> None:
    assert signed.startswith(
        f"{ORIGIN}\n42\n{base64.b64encode(ROOT).decode()}\ntime 1772368205\n\n"
    )
    checkpoint = parse_and_verify(signed, both, origin=ORIGIN)
    assert checkpoint == Checkpoint(ORIGIN, 42, ROOT, timestamp=SIGNED_AT)
    assert parse_and_verify(signed.encode(), both, origin=ORIGIN) == checkpoint


def test_each_key_alone_verifies_and_ignores_the_other_line(
    signed: str, both: list[NoteVerifier]
) -> None:
    for verifier in both:
        assert parse_and_verify(signed, [verifier], origin=ORIGIN).size == 42


def test_verifier_keys_are_published_and_read_back(both: list[NoteVerifier], signed: str) -> None:
    ed, pq = both
    name, key_id, material = ed.vkey.split("+", 2)
    assert (name, key_id) == (ORIGIN, f"{ed.key_id:08x}")
    assert base64.b64decode(material)[0] == 0x01
    assert isinstance(parse_vkey(ed.vkey), Ed25519NoteVerifier)
    assert isinstance(parse_vkey(pq.vkey), HybridNoteVerifier)
    assert parse_and_verify(signed, [parse_vkey(v.vkey) for v in both], origin=ORIGIN).size == 42


def test_key_ids_follow_the_signed_note_recommendation(
    log_key: Ed25519NoteSigner, pq_key: HybridNoteSigner
) -> None:
    ed_material = base64.b64decode(log_key.vkey.split("+", 2)[2])
    pq_material = base64.b64decode(pq_key.vkey.split("+", 2)[2])
    assert ed_material[0] == 0x01
    assert len(ed_material) == 33
    assert pq_material.startswith(b"\xffqplane/signed-note/MLDSA65-Ed25519/v1\n")
    assert pq_material.startswith(HYBRID_TYPE)
    for key, material in ((log_key, ed_material), (pq_key, pq_material)):
        digest = hashlib.sha256(ORIGIN.encode() + b"\n" + material).digest()
        assert key.key_id == int.from_bytes(digest[:4], "big")


def test_keys_never_print_their_material(log_key: Ed25519NoteSigner) -> None:
    assert repr(log_key) == f"Ed25519NoteSigner({ORIGIN}+{log_key.key_id:08x})"


# -- Rejections ----------------------------------------------------------------------------------


def _lines(note: str) -> list[str]:
    return note.split("\n")


def test_changing_any_line_of_the_checkpoint_is_rejected(
    signed: str, both: list[NoteVerifier]
) -> None:
    lines = _lines(signed)
    replacements = {
        0: "qplane.example/audit/ten_b",
        1: "43",
        2: base64.b64encode(hashlib.sha256(b"another root").digest()).decode(),
        3: "time 1772368206",
    }
    for index, replacement in replacements.items():
        tampered = "\n".join([*lines[:index], replacement, *lines[index + 1 :]])
        for verifiers in ([both[0]], [both[1]], both):
            with pytest.raises(IntegrityError, match="invalid signature"):
                parse_and_verify(tampered, verifiers, origin=ORIGIN)


def test_a_flipped_bit_in_either_signature_is_rejected(
    signed: str, both: list[NoteVerifier]
) -> None:
    lines = _lines(signed)
    for index in (5, 6):
        prefix, _, encoded = lines[index].rpartition(" ")
        blob = bytearray(base64.b64decode(encoded))
        for position in (4, len(blob) // 2, len(blob) - 1):
            blob[position] ^= 0x01
            bad = f"{prefix} {base64.b64encode(bytes(blob)).decode()}"
            blob[position] ^= 0x01
            tampered = "\n".join([*lines[:index], bad, *lines[index + 1 :]])
            with pytest.raises(IntegrityError, match="invalid signature"):
                parse_and_verify(tampered, both, origin=ORIGIN)


def test_a_missing_required_signature_is_rejected(
    log_key: Ed25519NoteSigner, both: list[NoteVerifier]
) -> None:
    only_ed25519 = sign_checkpoint(ORIGIN, 42, ROOT, [log_key])
    with pytest.raises(IntegrityError, match="no signature by"):
        parse_and_verify(only_ed25519, both, origin=ORIGIN)


def test_a_signature_by_another_key_of_the_same_name_is_not_accepted(signed: str) -> None:
    impostor = Ed25519NoteSigner(ORIGIN, ed25519.Ed25519PrivateKey.generate())
    with pytest.raises(IntegrityError, match="no signature by"):
        parse_and_verify(signed, [impostor.verifier()], origin=ORIGIN)
    forged = sign_checkpoint(ORIGIN, 42, ROOT, [impostor])
    with pytest.raises(IntegrityError, match="no signature by"):
        parse_and_verify(forged, [parse_vkey(PETER_VKEY)], origin=ORIGIN)


def test_another_logs_checkpoint_is_rejected_even_under_the_same_key(
    log_key: Ed25519NoteSigner,
) -> None:
    other_log = sign_checkpoint("qplane.example/audit/ten_b", 42, ROOT, [log_key])
    with pytest.raises(IntegrityError, match="another log"):
        parse_and_verify(other_log, [log_key.verifier()], origin=ORIGIN)


def test_reordered_lines_are_rejected_but_signature_order_is_free(
    signed: str, both: list[NoteVerifier]
) -> None:
    lines = _lines(signed)
    swapped = [lines[1], lines[0], *lines[2:]]
    with pytest.raises(IntegrityError):
        parse_and_verify("\n".join(swapped), both, origin=ORIGIN)
    signatures_swapped = [*lines[:5], lines[6], lines[5], *lines[7:]]
    assert parse_and_verify("\n".join(signatures_swapped), both, origin=ORIGIN).size == 42


def _non_canonical(signature_line: str) -> str:
    """The same signature bytes, spelled with non-zero padding bits in base64."""
    assert signature_line.endswith("=")  # 68 bytes: the last character carries 2 unused bits
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = signature_line[-2]
    respelled = alphabet[alphabet.index(last) ^ 1]
    assert base64.b64decode(signature_line[-8:-2] + respelled + "=") == base64.b64decode(
        signature_line[-8:]
    )
    return signature_line[:-2] + respelled + "="


@pytest.mark.parametrize(
    "garbage",
    ["x", "trailing\n", "\n", "\n\n", "\ntrailing\n", "— ", " ", "\x00", "\r\n"],
)
def test_trailing_garbage_is_rejected(signed: str, both: list[NoteVerifier], garbage: str) -> None:
    with pytest.raises(IntegrityError, match="malformed note"):
        parse_and_verify(signed + garbage, both, origin=ORIGIN)


def test_a_note_without_a_blank_line_or_with_a_bad_signature_line_is_rejected(
    signed: str, both: list[NoteVerifier]
) -> None:
    lines = _lines(signed)
    for tampered in (
        "\n".join([*lines[:4], *lines[5:]]),  # no blank line
        signed.replace("— ", "-- ", 1),  # a hyphen instead of the em dash
        signed.replace(f"— {ORIGIN} ", f"— {ORIGIN}  ", 1),  # two spaces
        "\n".join([*lines[:5], _non_canonical(lines[5]), *lines[6:]]),
    ):
        with pytest.raises(IntegrityError):
            parse_and_verify(tampered, both, origin=ORIGIN)


@pytest.mark.parametrize(
    "body",
    [
        f"{ORIGIN}\n42\n",  # no root hash
        f"{ORIGIN}\n042\n{{root}}\n",  # leading zero
        f"{ORIGIN}\n-1\n{{root}}\n",
        f"{ORIGIN}\n+42\n{{root}}\n",
        f"{ORIGIN}\n4e1\n{{root}}\n",
        f"{ORIGIN}\n٤٢\n{{root}}\n",  # non-ASCII digits
        f"{ORIGIN}\n18446744073709551616\n{{root}}\n",  # 2**64
        f"{ORIGIN}\n{'9' * 5000}\n{{root}}\n",
        f"{ORIGIN}\n42\n{base64.b64encode(b'short').decode()}\n",
        f"{ORIGIN}\n42\n{{root}}\n\ntime 1\n",  # an empty line
        f"{ORIGIN}\n42\n{{root}}\ntime 1\ntime 2\n",
        f"{ORIGIN}\n42\n{{root}}\ntime 01\n",
        f"{ORIGIN}\n42\n{{root}}\ntime \n",
        f"{ORIGIN}\n42\n{{root}}\ntime 9223372036854775808\n",
    ],
)
def test_a_signed_but_malformed_checkpoint_is_rejected(
    log_key: Ed25519NoteSigner, body: str
) -> None:
    note = sign_note(body.replace("{root}", base64.b64encode(ROOT).decode()), [log_key])
    with pytest.raises(IntegrityError, match="malformed checkpoint"):
        parse_and_verify(note, [log_key.verifier()], origin=ORIGIN)


def test_foreign_extension_lines_are_kept_opaque(log_key: Ed25519NoteSigner) -> None:
    body = f"{ORIGIN}\n0\n{base64.b64encode(ROOT).decode()}\nwitness-hint x y\ntime 0\n"
    checkpoint = parse_and_verify(sign_note(body, [log_key]), [log_key.verifier()], origin=ORIGIN)
    assert checkpoint.extensions == ("witness-hint x y",)
    assert checkpoint.timestamp == datetime(1970, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("two words", 1, ROOT), "an origin is"),
        (("a+b", 1, ROOT), "an origin is"),
        ((ORIGIN, -1, ROOT), "unsigned 64-bit"),
        ((ORIGIN, 2**64, ROOT), "unsigned 64-bit"),
        ((ORIGIN, 1, ROOT[:31]), "32 bytes"),
    ],
)
def test_signing_refuses_a_checkpoint_it_could_not_verify(
    log_key: Ed25519NoteSigner, arguments: tuple[str, int, bytes], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        sign_checkpoint(*arguments, [log_key])


def test_signing_needs_keys_given_once_an_aware_time_and_a_clean_text(
    log_key: Ed25519NoteSigner,
) -> None:
    with pytest.raises(ValueError, match="at least one key"):
        sign_checkpoint(ORIGIN, 1, ROOT, [])
    with pytest.raises(ValueError, match="each key once"):
        sign_checkpoint(ORIGIN, 1, ROOT, [log_key, log_key])
    with pytest.raises(ValueError, match="timezone-aware"):
        sign_checkpoint(ORIGIN, 1, ROOT, [log_key], timestamp=datetime(2026, 1, 1))
    for text in ("no final newline", "a\rb\n"):
        with pytest.raises(ValueError, match="control character"):
            sign_note(text, [log_key])


def test_verifying_needs_at_least_one_key_each_given_once(
    signed: str, both: list[NoteVerifier]
) -> None:
    with pytest.raises(ValueError, match="at least one key"):
        parse_and_verify(signed, [], origin=ORIGIN)
    with pytest.raises(ValueError, match="each key once"):
        parse_and_verify(signed, [both[0], both[0]], origin=ORIGIN)


def test_the_timestamp_is_written_to_the_second_in_any_time_zone(
    log_key: Ed25519NoteSigner,
) -> None:
    local = SIGNED_AT.astimezone(timezone(timedelta(hours=-5))) + timedelta(microseconds=999_999)
    note = sign_checkpoint(ORIGIN, 1, ROOT, [log_key], timestamp=local)
    checkpoint = parse_and_verify(note, [log_key.verifier()], origin=ORIGIN)
    assert checkpoint.timestamp == SIGNED_AT


# -- The tenant's offline check, end to end ------------------------------------------------------


def test_a_tenant_verifies_an_entry_against_a_signed_checkpoint(
    log_key: Ed25519NoteSigner, pq_key: HybridNoteSigner
) -> None:
    tree = MerkleTree(InMemoryNodeStore())
    tree.extend(f"audit entry {i}".encode() for i in range(1000))
    note = sign_checkpoint(ORIGIN, tree.size, tree.root(), [log_key, pq_key])
    published = [log_key.vkey, pq_key.vkey]

    checkpoint = parse_and_verify(note, [parse_vkey(v) for v in published], origin=ORIGIN)
    proof = tree.inclusion_proof(617, checkpoint.size)
    proof.verify(leaf_hash(b"audit entry 617"), checkpoint.root_hash)
    with pytest.raises(IntegrityError):
        proof.verify(leaf_hash(b"audit entry 618"), checkpoint.root_hash)
