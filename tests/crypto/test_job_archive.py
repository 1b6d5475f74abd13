"""The job archive file: sealed to one recipient, bound to its job, attested by the platform.

Sealing needs only the recipient's *public* key, so the tests play an
attacker who can open nothing but can seal anything: a re-sealed archive
with an altered result, a relabelled job or forged metadata must not pass.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from qplane.crypto import hybrid_kem
from qplane.crypto.attestation import AttestationKey, ResultStatement, sha256_hex
from qplane.crypto.hybrid_kem import HybridKemPrivateKey
from qplane.crypto.job_archive import (
    JobArchive,
    archive_aad,
    archive_job_id,
    open_archive,
    seal_archive,
)
from qplane.domain.errors import IntegrityError

JOB = "job_0123456789abcdef0123456789abcdef"
OTHER_JOB = "job_fedcba9876543210fedcba9876543210"
CIRCUIT = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[1];\ncreg c[1];\nh q[0];\nmeasure q -> c;\n'
_RUN: dict[str, object] = {"backend": "aer_statevector", "shots": 8, "seed": 7}
RESULT = '{"backend":"aer_statevector","counts":{"0":3,"1":5},"shots":8}'


@pytest.fixture(scope="module")
def platform_key() -> AttestationKey:
    return AttestationKey.ephemeral()


@pytest.fixture(scope="module")
def recipient() -> HybridKemPrivateKey:
    return HybridKemPrivateKey.generate()


def _archive(key: AttestationKey, job_id: str = JOB, result: str = RESULT) -> JobArchive:
    statement = ResultStatement(
        job_id=job_id,
        tenant_id="ten_a",
        backend="aer_statevector",
        shots=8,
        seed=7,
        circuit_sha256=sha256_hex(CIRCUIT.encode()),
        result_sha256=sha256_hex(result.encode()),
        finished_at="2026-11-25T10:00:01Z",
        attestation_key_id=key.key_id,
    )
    return JobArchive(
        job={"id": job_id, "tenant_id": "ten_a", "project_id": "prj_a"} | _RUN,
        circuit_format="qasm2",
        circuit_source=CIRCUIT,
        result_json=result,
        log="leased\ncompleted\n",
        attestation=key.attest(statement),
        exported_at="2026-11-26T09:00:00Z",
    )


@pytest.fixture(scope="module")
def archive(platform_key: AttestationKey) -> JobArchive:
    return _archive(platform_key)


@pytest.fixture(scope="module")
def blob(recipient: HybridKemPrivateKey, archive: JobArchive) -> bytes:
    return seal_archive(recipient.public_key(), archive)


def test_an_archive_opens_for_its_recipient_and_verifies(
    recipient: HybridKemPrivateKey, platform_key: AttestationKey, archive: JobArchive, blob: bytes
) -> None:
    opened = open_archive(recipient, blob, platform_key.public_key)
    assert opened.archive == archive
    assert opened.statement.job_id == JOB
    assert archive_job_id(blob) == JOB
    assert CIRCUIT.encode() not in blob
    assert b"counts" not in blob


def test_only_the_recipients_key_opens_it(platform_key: AttestationKey, blob: bytes) -> None:
    with pytest.raises(IntegrityError, match="belongs to another key"):
        open_archive(HybridKemPrivateKey.generate(), blob, platform_key.public_key)


def test_an_archive_attested_by_another_platform_fails(
    recipient: HybridKemPrivateKey, blob: bytes
) -> None:
    with pytest.raises(IntegrityError, match="another key"):
        open_archive(recipient, blob, AttestationKey.ephemeral().public_key)


def test_a_resealed_archive_with_an_altered_result_fails(
    recipient: HybridKemPrivateKey, platform_key: AttestationKey, archive: JobArchive
) -> None:
    forged = replace(archive, result_json=RESULT.replace('"0":3', '"0":4'))
    with pytest.raises(IntegrityError, match="result is not the one attested"):
        open_archive(
            recipient, seal_archive(recipient.public_key(), forged), platform_key.public_key
        )


def test_a_resealed_archive_with_an_altered_circuit_fails(
    recipient: HybridKemPrivateKey, platform_key: AttestationKey, archive: JobArchive
) -> None:
    forged = replace(archive, circuit_source=CIRCUIT.replace("h q[0]", "x q[0]"))
    with pytest.raises(IntegrityError, match="circuit is not the one attested"):
        open_archive(
            recipient, seal_archive(recipient.public_key(), forged), platform_key.public_key
        )


@pytest.mark.parametrize(
    ("field", "value"), [("tenant_id", "ten_b"), ("shots", 9), ("seed", 8), ("backend", "x")]
)
def test_job_metadata_that_disagrees_with_the_statement_fails(
    recipient: HybridKemPrivateKey,
    platform_key: AttestationKey,
    archive: JobArchive,
    field: str,
    value: object,
) -> None:
    forged = replace(archive, job=archive.job | {field: value})
    with pytest.raises(IntegrityError, match=f"job's {field} is not the one attested"):
        open_archive(
            recipient, seal_archive(recipient.public_key(), forged), platform_key.public_key
        )


def test_another_jobs_attestation_cannot_be_passed_off(
    recipient: HybridKemPrivateKey, platform_key: AttestationKey, archive: JobArchive
) -> None:
    other = _archive(platform_key, job_id=OTHER_JOB)
    forged = replace(archive, attestation=other.attestation)
    with pytest.raises(IntegrityError, match="about another job"):
        open_archive(
            recipient, seal_archive(recipient.public_key(), forged), platform_key.public_key
        )


def test_a_relabelled_archive_does_not_open(
    recipient: HybridKemPrivateKey, platform_key: AttestationKey, blob: bytes
) -> None:
    relabelled = blob.replace(JOB.encode(), OTHER_JOB.encode(), 1)
    assert archive_job_id(relabelled) == OTHER_JOB
    with pytest.raises(IntegrityError, match="sealed box failed to verify"):
        open_archive(recipient, relabelled, platform_key.public_key)


def test_a_box_sealed_for_another_purpose_does_not_open(
    recipient: HybridKemPrivateKey, platform_key: AttestationKey, archive: JobArchive
) -> None:
    box = hybrid_kem.seal(recipient.public_key(), archive.to_document(), b"")
    header = b"QPJA\x01" + bytes([len(JOB)]) + JOB.encode()
    with pytest.raises(IntegrityError, match="sealed box failed to verify"):
        open_archive(recipient, header + box, platform_key.public_key)
    assert archive_aad(JOB) != archive_aad(OTHER_JOB)


@pytest.mark.parametrize("at", [0, 4, 5, 6, 60, 2000, -1])
def test_any_flipped_byte_fails(
    recipient: HybridKemPrivateKey, platform_key: AttestationKey, blob: bytes, at: int
) -> None:
    flipped = bytearray(blob)
    flipped[at] ^= 0x01
    with pytest.raises(IntegrityError):
        open_archive(recipient, bytes(flipped), platform_key.public_key)


@pytest.mark.parametrize("cut", [0, 3, 5, 6, 20, 500])
def test_truncated_files_fail(
    recipient: HybridKemPrivateKey, platform_key: AttestationKey, blob: bytes, cut: int
) -> None:
    with pytest.raises(IntegrityError):
        open_archive(recipient, blob[:cut], platform_key.public_key)


@pytest.mark.parametrize(
    "document",
    [b"not json", b"[]", b'{"format": "qplane/job-archive/v1"}', b"\xff"],
)
def test_a_malformed_document_fails(
    recipient: HybridKemPrivateKey, platform_key: AttestationKey, document: bytes
) -> None:
    box = hybrid_kem.seal(recipient.public_key(), document, archive_aad(JOB))
    header = b"QPJA\x01" + bytes([len(JOB)]) + JOB.encode()
    with pytest.raises(IntegrityError, match="job archive is malformed"):
        open_archive(recipient, header + box, platform_key.public_key)
