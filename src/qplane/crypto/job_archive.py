"""Job archives for reproducibility: one verified job, attested by the platform, sealed to one key.

Why: an archive leaves the platform and is kept for years. Whoever copies it
could keep it until a quantum computer breaks X25519, so it is sealed with
the hybrid KEM (`qplane.crypto.hybrid_kem`); and whoever reads it years
later must still be able to tell a real result from a forged one, so the
platform attests it with a composite signature (`qplane.crypto.attestation`).

The file (what ``POST /v1/jobs/{job_id}/archive`` answers)::

    archive    = "QPJA" || 0x01 || n (1 byte) || job_id (n bytes of ASCII) || sealed box
    sealed box = hybrid_kem.seal(recipient, document,
                                 aad = encode_aad("qplane/job-archive/v1", job_id))

The job id is readable outside the box, so a holder of many archives can
tell them apart, and it is the box's associated data, so an archive
relabelled as another job's does not open. The document is UTF-8 JSON::

    {"format": "qplane/job-archive/v1", "exported_at": <ISO 8601 UTC>,
     "job": {"id", "tenant_id", "project_id", "owner_id", "backend", "shots",
             "seed", "source_format", "classification", "qubits", "depth",
             "tags", "created_at", "history": [{"state", "at", "reason"}]},
     "circuit": {"format": "qasm2" | "qasm3", "source": <text>},
     "result": <the result's JSON text, exactly the bytes the statement hashes>,
     "log": <the execution log> | null,
     "attestation": {"context", "algorithm", "key_id", "statement", "signature"}}

What protects what: the sealed box keeps all of it confidential and makes
any change to the file fail, but anyone holding the recipient's *public*
key can seal a box, so the box alone does not say who made it. The
platform's signature does, for the statement (job, tenant, backend, shots,
seed, finished time) and, through their SHA-256, the circuit and the
result; `open_archive` also requires the document's job to agree with the
statement. The project, classification, state history and execution log
are not attested: they are only as trustworthy as the box's sender.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Final

from qplane.crypto import hybrid_kem
from qplane.crypto._aad import encode_aad
from qplane.crypto.attestation import Attestation, ResultStatement, verify_attestation
from qplane.crypto.hybrid_kem import HybridKemPrivateKey, HybridKemPublicKey
from qplane.crypto.hybrid_signature import HybridSignaturePublicKey
from qplane.domain.errors import IntegrityError

ARCHIVE_FORMAT: Final = "qplane/job-archive/v1"
#: What an archive file's name ends with, by convention.
FILE_SUFFIX: Final = ".qparchive"
_MAGIC: Final = b"QPJA"
_VERSION: Final = b"\x01"
_MAX_JOB_ID_BYTES: Final = 255
_DOCUMENT_FIELDS: Final = frozenset(
    {"format", "exported_at", "job", "circuit", "result", "log", "attestation"}
)
#: The job fields the statement also names: the two must agree.
_ATTESTED_JOB_FIELDS: Final = (
    ("id", "job_id"),
    ("tenant_id", "tenant_id"),
    ("backend", "backend"),
    ("shots", "shots"),
    ("seed", "seed"),
)


@dataclass(frozen=True, slots=True)
class JobArchive:
    """The document inside the sealed box."""

    job: dict[str, object]
    circuit_format: str
    circuit_source: str
    result_json: str
    log: str | None
    attestation: Attestation
    exported_at: str

    @property
    def job_id(self) -> str:
        return str(self.job.get("id"))

    def to_document(self) -> bytes:
        """The document as UTF-8 JSON (keys sorted, so equal archives encode alike)."""
        document = {
            "format": ARCHIVE_FORMAT,
            "exported_at": self.exported_at,
            "job": self.job,
            "circuit": {"format": self.circuit_format, "source": self.circuit_source},
            "result": self.result_json,
            "log": self.log,
            "attestation": self.attestation.to_json(),
        }
        return json.dumps(document, sort_keys=True, ensure_ascii=False).encode("utf-8")

    @classmethod
    def from_document(cls, data: bytes) -> JobArchive:
        """Reverse `to_document`; `IntegrityError` for anything but exactly an archive document."""
        try:
            document = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise _malformed("not UTF-8 JSON") from None
        if not isinstance(document, dict) or set(document) != _DOCUMENT_FIELDS:
            raise _malformed("wrong fields")
        if document["format"] != ARCHIVE_FORMAT:
            raise _malformed("unknown format")
        job, circuit = document["job"], document["circuit"]
        if not isinstance(job, dict) or not isinstance(circuit, dict):
            raise _malformed("job and circuit must be objects")
        texts = (document["exported_at"], circuit.get("format"), circuit.get("source"))
        result, log = document["result"], document["log"]
        if not all(isinstance(t, str) for t in (*texts, result)) or not isinstance(log, str | None):
            raise _malformed("a text field is not a string")
        return cls(
            job=job,
            circuit_format=str(circuit["format"]),
            circuit_source=str(circuit["source"]),
            result_json=str(result),
            log=log,
            attestation=Attestation.from_json(document["attestation"]),
            exported_at=str(document["exported_at"]),
        )


@dataclass(frozen=True, slots=True)
class OpenedArchive:
    """An archive that opened and verified: its document and the statement the platform signed."""

    archive: JobArchive
    statement: ResultStatement


def archive_aad(job_id: str) -> bytes:
    """The sealed box's associated data: what the box is, and for which job."""
    return encode_aad(ARCHIVE_FORMAT, job_id)


def seal_archive(recipient: HybridKemPublicKey, archive: JobArchive) -> bytes:
    """The archive file: the document sealed so that only *recipient*'s private key opens it."""
    job_id = archive.job_id.encode("ascii")
    if not 0 < len(job_id) <= _MAX_JOB_ID_BYTES:
        raise ValueError("a job id is 1 to 255 ASCII characters")
    box = hybrid_kem.seal(recipient, archive.to_document(), archive_aad(archive.job_id))
    return _MAGIC + _VERSION + bytes([len(job_id)]) + job_id + box


def archive_job_id(blob: bytes) -> str:
    """The job an archive file says it holds (checked only when it is opened)."""
    job_id, _ = _split(blob)
    return job_id


def open_archive(
    private: HybridKemPrivateKey, blob: bytes, attestation_key: HybridSignaturePublicKey
) -> OpenedArchive:
    """Decrypt an archive and verify it; return it only when every check passes.

    Raises `IntegrityError` when the file is not an archive, was sealed to
    another key, was changed in any bit or relabelled as another job's, when
    the attestation is not *attestation_key*'s over this job, or when the
    circuit, result or job metadata differ from what the statement attests.
    """
    job_id, box = _split(blob)
    archive = JobArchive.from_document(hybrid_kem.open(private, box, archive_aad(job_id)))
    statement = verify_attestation(attestation_key, archive.attestation)
    if archive.job_id != job_id or statement.job_id != job_id:
        raise IntegrityError("job archive failed to verify: it is about another job")
    for job_field, statement_field in _ATTESTED_JOB_FIELDS:
        if archive.job.get(job_field) != getattr(statement, statement_field):
            raise IntegrityError(
                f"job archive failed to verify: the job's {job_field} is not the one attested"
            )
    statement.require_artifacts(
        archive.circuit_source.encode("utf-8"), archive.result_json.encode("utf-8")
    )
    return OpenedArchive(archive, statement)


def _split(blob: bytes) -> tuple[str, bytes]:
    header = len(_MAGIC) + len(_VERSION)
    if blob[: len(_MAGIC)] != _MAGIC:
        raise IntegrityError("job archive failed to verify: not a qplane job archive")
    if blob[len(_MAGIC) : header] != _VERSION:
        raise IntegrityError("job archive failed to verify: unsupported format version")
    length = blob[header] if len(blob) > header else 0
    job_id = blob[header + 1 : header + 1 + length]
    if length == 0 or len(job_id) != length:
        raise IntegrityError("job archive failed to verify: truncated")
    try:
        return job_id.decode("ascii"), blob[header + 1 + length :]
    except UnicodeDecodeError:
        raise IntegrityError("job archive failed to verify: the job id is not ASCII") from None


def _malformed(why: str) -> IntegrityError:
    return IntegrityError(f"job archive is malformed: {why}")
