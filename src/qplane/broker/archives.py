"""Archives for reproducibility: a verified job's metadata, circuit, result and log, attested
and sealed to a recipient's hybrid post-quantum key (format: `qplane.crypto.job_archive`).

Security properties:

* An archive holds every artifact of the job, so it is made only for a
  caller who may read each of them: ``artifact.read`` is decided for the
  circuit, the result and the log in turn, exactly as the single reads
  decide it (`JobService`), and the first refusal refuses the whole archive
  with the error that read would have given.
* Another tenant's job answers "job not found", like a missing one; a job
  that is not verified answers 409, after the decisions, as the reads do.
* The plaintext exists only in memory, in this call; what leaves is the
  sealed box. The audit entry ``job.archive`` names the recipient's key id
  and the attestation key id, never any content.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from qplane.backends.catalogue import BackendCatalogue
from qplane.broker import authz_facts as facts
from qplane.broker.auditing import audit
from qplane.broker.jobs import binding_for
from qplane.crypto.attestation import AttestationKey, ResultStatement, sha256_hex
from qplane.crypto.hierarchy import KeyHierarchy
from qplane.crypto.hybrid_kem import HybridKemPublicKey
from qplane.crypto.job_archive import JobArchive, seal_archive
from qplane.domain.clock import as_utc, utcnow
from qplane.domain.errors import Conflict, IntegrityError, NotFound, ValidationFailed
from qplane.domain.jobs import Job, JobState
from qplane.domain.ports import UnitOfWork, UnitOfWorkFactory
from qplane.policy.actions import Action
from qplane.policy.actor import Actor
from qplane.policy.authorizer import Authorizer
from qplane.policy.facts import ArtifactKind

#: Decided in this order; the first refusal is the answer.
_KINDS: Final = (ArtifactKind.CIRCUIT, ArtifactKind.RESULT, ArtifactKind.LOG)
_RECIPIENT_FIELD: Final = "recipient_public_key"


class ArchiveService:
    """Exports a verified job as an attested archive sealed to one recipient."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        catalogue: BackendCatalogue,
        keys: KeyHierarchy,
        attestation: AttestationKey,
        *,
        authorizer: Authorizer,
    ) -> None:
        self._uow = uow_factory
        self._catalogue = catalogue
        self._keys = keys
        self._attestation = attestation
        self._authz = authorizer

    def export(self, actor: Actor, job_id: str, recipient_public_key: str) -> bytes:
        """The archive file of *job_id*, sealed to the PEM *recipient_public_key*.

        Raises `ValidationFailed` (field ``recipient_public_key``) for a key
        that is not a hybrid KEM public key, before the job is looked at;
        "job not found" for another tenant's job or a refused caller, exactly
        as a single artifact read; `Conflict` unless the job is verified.
        """
        recipient = recipient_key(recipient_public_key)
        with self._uow() as uow:
            job = uow.jobs.get(_tenant_of(actor), job_id)
            self._decide_every_artifact(uow, actor, job)
            if job.state is not JobState.VERIFIED:
                raise Conflict(
                    f"only a verified job can be archived: it is {job.state.value}",
                    state=job.state.value,
                )
            blob = seal_archive(recipient, self._archive(uow, job))
            audit(
                uow,
                actor,
                "job.archive",
                tenant_id=job.tenant_id,
                target=job.id,
                job_id=job.id,
                backend=job.backend,
                detail=(
                    f"recipient_key={recipient.fingerprint} "
                    f"attestation_key={self._attestation.key_id}"
                ),
            )
            uow.commit()
        return blob

    def _decide_every_artifact(self, uow: UnitOfWork, actor: Actor, job: Job) -> None:
        of_job = facts.job_in(uow, self._catalogue, job)
        for kind in _KINDS:
            self._authz.authorize(
                uow,
                actor,
                Action.ARTIFACT_READ,
                facts.artifact(of_job, kind),
                missing="job not found",
            )

    def _archive(self, uow: UnitOfWork, job: Job) -> JobArchive:
        circuit = self._read(uow, job, ArtifactKind.CIRCUIT)
        result = self._read(uow, job, ArtifactKind.RESULT)
        try:
            log: bytes | None = self._read(uow, job, ArtifactKind.LOG)
        except NotFound:  # the worker sent no log: the archive says so
            log = None
        statement = ResultStatement(
            job_id=job.id,
            tenant_id=job.tenant_id,
            backend=job.backend,
            shots=job.shots,
            seed=job.seed,
            circuit_sha256=sha256_hex(circuit),
            result_sha256=sha256_hex(result),
            finished_at=_finished_at(job),
            attestation_key_id=self._attestation.key_id,
        )
        return JobArchive(
            job=job_metadata(job),
            circuit_format=job.source_format.value,
            circuit_source=circuit.decode("utf-8"),
            result_json=result.decode("utf-8"),
            log=None if log is None else log.decode("utf-8"),
            attestation=self._attestation.attest(statement),
            exported_at=_timestamp(utcnow()),
        )

    def _read(self, uow: UnitOfWork, job: Job, kind: ArtifactKind) -> bytes:
        sealed = uow.artifacts.get(job.tenant_id, job.id, kind.value)
        return self._keys.open(uow, sealed, binding_for(job, kind.value))


def recipient_key(pem: str) -> HybridKemPublicKey:
    """Parse a recipient's PEM; `ValidationFailed` naming the field for anything else."""
    try:
        return HybridKemPublicKey.from_pem(pem)
    except IntegrityError as exc:
        raise ValidationFailed(
            f"{_RECIPIENT_FIELD} is not a qplane hybrid KEM public key ({exc.detail})",
            field=_RECIPIENT_FIELD,
        ) from None


def job_metadata(job: Job) -> dict[str, object]:
    """What an archive records about the job besides its artifacts (no secrets)."""
    return {
        "id": job.id,
        "tenant_id": job.tenant_id,
        "project_id": job.project_id,
        "owner_id": job.owner_id,
        "backend": job.backend,
        "shots": job.shots,
        "seed": job.seed,
        "source_format": job.source_format.value,
        "classification": job.classification.value,
        "qubits": job.qubits,
        "depth": job.depth,
        "tags": list(job.tags),
        "created_at": _timestamp(job.created_at),
        "history": [
            {"state": step.state.value, "at": _timestamp(step.at), "reason": step.reason}
            for step in job.history
        ],
    }


def _finished_at(job: Job) -> str:
    """When the run finished: its (last) move to succeeded."""
    finished = [step.at for step in job.history if step.state is JobState.SUCCEEDED]
    return _timestamp(finished[-1] if finished else job.updated_at)


def _timestamp(at: datetime) -> str:
    return as_utc(at).isoformat().replace("+00:00", "Z")


def _tenant_of(actor: Actor) -> str:
    if actor.tenant_id is None:  # operators never reach tenant jobs (policy), belt and braces
        raise NotFound("job not found")
    return actor.tenant_id
