"""Result attestations: a canonical statement, signed with the platform's composite key.

The statement's bytes are what is signed, so it has exactly one encoding;
the signature verifies only with both halves intact, under the result
attestation context, with the key the statement names; and the key file is
private and refused when it is not.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from qplane.crypto import hybrid_signature
from qplane.crypto.attestation import (
    ATTESTATION_CONTEXT,
    KEY_FILE,
    Attestation,
    AttestationKey,
    ResultStatement,
    sha256_hex,
    verify_attestation,
)
from qplane.crypto.errors import InsecureKeyFile, KeyUnavailable
from qplane.crypto.hybrid_signature import (
    MLDSA_SIGNATURE_BYTES,
    SIGNATURE_BYTES,
    HybridSignaturePrivateKey,
)
from qplane.domain.errors import IntegrityError

CIRCUIT = b'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[1];\ncreg c[1];\nh q[0];\n'
RESULT = b'{"backend":"aer_statevector","counts":{"0":3,"1":5},"shots":8}'
_ED25519_AT = SIGNATURE_BYTES - 64
_MLDSA_AT = _ED25519_AT - MLDSA_SIGNATURE_BYTES


@pytest.fixture(scope="module")
def signer() -> HybridSignaturePrivateKey:
    return HybridSignaturePrivateKey.generate()


@pytest.fixture(scope="module")
def key(signer: HybridSignaturePrivateKey) -> AttestationKey:
    return AttestationKey(signer)


@pytest.fixture(scope="module")
def statement(key: AttestationKey) -> ResultStatement:
    return ResultStatement(
        job_id="job_0123456789abcdef0123456789abcdef",
        tenant_id="ten_0123456789abcdef0123456789abcdef",
        backend="aer_statevector",
        shots=8,
        seed=7,
        circuit_sha256=sha256_hex(CIRCUIT),
        result_sha256=sha256_hex(RESULT),
        finished_at="2026-11-25T10:00:01.000000Z",
        attestation_key_id=key.key_id,
    )


@pytest.fixture(scope="module")
def attestation(key: AttestationKey, statement: ResultStatement) -> Attestation:
    return key.attest(statement)


def test_an_attestation_verifies_with_the_platforms_public_key(
    key: AttestationKey, statement: ResultStatement, attestation: Attestation
) -> None:
    assert verify_attestation(key.public_key, attestation) == statement
    assert attestation.key_id == key.key_id == key.public_key.fingerprint
    statement.require_artifacts(CIRCUIT, RESULT)


def test_the_statement_is_canonical_json_of_the_documented_fields(
    statement: ResultStatement,
) -> None:
    data = statement.to_bytes()
    fields = json.loads(data)
    assert list(fields) == sorted(fields)
    assert set(fields) == {
        "attestation_key_id",
        "backend",
        "circuit_sha256",
        "finished_at",
        "job_id",
        "result_sha256",
        "seed",
        "shots",
        "tenant_id",
    }
    assert b" " not in data
    assert json.dumps(fields, sort_keys=True, separators=(",", ":")).encode() == data
    assert ResultStatement.from_bytes(data) == statement


@pytest.mark.parametrize(
    "mangle",
    [
        lambda d: json.dumps(json.loads(d), sort_keys=True, indent=1).encode(),  # not canonical
        lambda d: json.dumps(json.loads(d) | {"extra": 1}, sort_keys=True).encode(),
        lambda d: json.dumps({**json.loads(d), "shots": "8"}, sort_keys=True).encode(),
        lambda d: json.dumps({**json.loads(d), "seed": True}, sort_keys=True).encode(),
        lambda d: json.dumps({**json.loads(d), "circuit_sha256": "AB" * 32}).encode(),
        lambda d: b"[]",
        lambda d: b"\xff",
    ],
)
def test_anything_but_one_canonical_statement_is_refused(
    statement: ResultStatement, mangle: Callable[[bytes], bytes]
) -> None:
    with pytest.raises(IntegrityError, match="statement is malformed"):
        ResultStatement.from_bytes(mangle(statement.to_bytes()))


def test_an_altered_statement_fails(key: AttestationKey, attestation: Attestation) -> None:
    forged = attestation.statement.replace(b'"shots":8', b'"shots":9')
    with pytest.raises(IntegrityError, match="both component signatures"):
        verify_attestation(key.public_key, replace(attestation, statement=forged))


@pytest.mark.parametrize(
    ("half", "at"), [("ML-DSA-65", _MLDSA_AT + 100), ("Ed25519", _ED25519_AT + 10)]
)
def test_corrupting_either_half_of_the_signature_fails(
    key: AttestationKey, attestation: Attestation, half: str, at: int
) -> None:
    corrupted = bytearray(attestation.signature)
    corrupted[at] ^= 0x01
    with pytest.raises(IntegrityError, match="both component signatures"):
        verify_attestation(key.public_key, replace(attestation, signature=bytes(corrupted)))


def test_a_signature_under_another_context_label_fails(
    signer: HybridSignaturePrivateKey, key: AttestationKey, statement: ResultStatement
) -> None:
    data = statement.to_bytes()
    checkpoint = hybrid_signature.sign(signer, data, "qplane/audit-checkpoint/v1")
    with pytest.raises(IntegrityError):
        verify_attestation(key.public_key, Attestation(data, checkpoint))
    attested = key.attest(statement)
    with pytest.raises(IntegrityError):
        hybrid_signature.verify(
            key.public_key, data, attested.signature, "qplane/audit-checkpoint/v1"
        )
    hybrid_signature.verify(key.public_key, data, attested.signature, ATTESTATION_CONTEXT)


def test_another_key_fails(attestation: Attestation) -> None:
    other = AttestationKey.ephemeral()
    with pytest.raises(IntegrityError, match="another key"):
        verify_attestation(other.public_key, attestation)


def test_a_statement_naming_another_key_is_neither_signed_nor_accepted(
    signer: HybridSignaturePrivateKey, key: AttestationKey, statement: ResultStatement
) -> None:
    elsewhere = replace(statement, attestation_key_id="ab" * 32)
    with pytest.raises(ValueError, match="another attestation key"):
        key.attest(elsewhere)
    data = elsewhere.to_bytes()
    signed = Attestation(data, hybrid_signature.sign(signer, data, ATTESTATION_CONTEXT))
    with pytest.raises(IntegrityError, match="names another key"):
        verify_attestation(key.public_key, signed)


def test_an_altered_circuit_or_result_is_not_the_one_attested(
    statement: ResultStatement,
) -> None:
    with pytest.raises(IntegrityError, match="circuit is not the one attested"):
        statement.require_artifacts(CIRCUIT + b"x q[0];\n", RESULT)
    with pytest.raises(IntegrityError, match="result is not the one attested"):
        statement.require_artifacts(CIRCUIT, RESULT.replace(b'"0":3', b'"0":4'))


def test_an_attestation_round_trips_as_json(attestation: Attestation) -> None:
    carried = json.loads(json.dumps(attestation.to_json()))
    assert carried["context"] == ATTESTATION_CONTEXT
    assert Attestation.from_json(carried) == attestation


@pytest.mark.parametrize(
    "broken",
    [
        {"context": "qplane/audit-checkpoint/v1"},
        {"statement": None},
        {"signature": "not base64!"},
        {"statement": "é"},
    ],
)
def test_a_malformed_attestation_is_refused(
    attestation: Attestation, broken: dict[str, object]
) -> None:
    with pytest.raises(IntegrityError, match="attestation is malformed"):
        Attestation.from_json(attestation.to_json() | broken)
    with pytest.raises(IntegrityError, match="attestation is malformed"):
        Attestation.from_json([attestation.to_json()])


def test_the_key_file_is_created_private_once_and_reloaded(tmp_path: Path) -> None:
    key_dir = tmp_path / "keys"
    created = AttestationKey.load_or_create(key_dir)
    path = key_dir / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_dir.stat().st_mode) == 0o700
    assert "PRIVATE KEY" in path.read_text()
    assert AttestationKey.load_or_create(key_dir).key_id == created.key_id


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_a_key_file_others_can_read_is_refused(tmp_path: Path, mode: int) -> None:
    AttestationKey.load_or_create(tmp_path)
    os.chmod(tmp_path / KEY_FILE, mode)
    with pytest.raises(InsecureKeyFile, match="chmod 600"):
        AttestationKey.load_or_create(tmp_path)


@pytest.mark.parametrize(
    "content",
    [
        b"not a key\n",
        HybridSignaturePrivateKey.generate().public_key().to_pem().encode(),
        b"\xff\xfe",
    ],
    ids=["garbage", "public-key", "not-utf8"],  # stable across xdist workers
)
def test_a_key_file_that_is_not_a_clear_signing_key_is_unavailable(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / KEY_FILE
    path.write_bytes(content)
    os.chmod(path, 0o600)
    with pytest.raises(KeyUnavailable, match="not a clear composite signing key"):
        AttestationKey.load_or_create(tmp_path)


def test_the_key_never_shows_its_material(key: AttestationKey) -> None:
    shown = repr(key) + str(key)
    assert "redacted" in shown
    assert key.key_id[:16] in shown
