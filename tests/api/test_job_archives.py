"""Archives for reproducibility through the real API: attested, sealed, and decided like reads.

``POST /v1/jobs/{job_id}/archive`` answers a verified job's archive sealed
to the recipient's hybrid KEM key; ``GET /v1/attestation-key`` serves the
key anyone can verify its attestation with. An archive holds every
artifact, so it is refused whenever one of the single reads would be.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import replace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from qplane.bootstrap import Platform, build_platform
from qplane.crypto import hybrid_signature
from qplane.crypto.attestation import ATTESTATION_CONTEXT, KEY_FILE, AttestationKey
from qplane.crypto.errors import InsecureKeyFile
from qplane.crypto.hybrid_kem import HybridKemPrivateKey
from qplane.crypto.hybrid_signature import (
    MLDSA_SIGNATURE_BYTES,
    SIGNATURE_BYTES,
    HybridSignaturePrivateKey,
    HybridSignaturePublicKey,
)
from qplane.crypto.job_archive import OpenedArchive, open_archive, seal_archive
from qplane.domain import ids
from qplane.domain.errors import IntegrityError
from tests.api.conftest import BELL, InProcessWorker, TenantCtx, with_mfa
from tests.api.policy_support import (
    audit_entries,
    consultant,
)
from tests.api.test_job_artifacts import RUN_LOG, _run
from tests.api.test_jobs_api import run_leased_job, submit

_ED25519_AT = SIGNATURE_BYTES - 64
_MLDSA_AT = _ED25519_AT - MLDSA_SIGNATURE_BYTES


@pytest.fixture(scope="module")
def recipient() -> HybridKemPrivateKey:
    return HybridKemPrivateKey.generate()


def archive(client: TestClient, ctx: TenantCtx, job_id: str, key: HybridKemPrivateKey) -> Response:
    return client.post(
        f"/v1/jobs/{job_id}/archive",
        json={"recipient_public_key": key.public_key().to_pem()},
        headers=ctx.headers,
    )


def served_key(client: TestClient) -> HybridSignaturePublicKey:
    response = client.get("/v1/attestation-key")  # no token
    assert response.status_code == 200, response.text
    body = response.json()
    key = HybridSignaturePublicKey.from_pem(body["public_key"])
    assert body["key_id"] == key.fingerprint
    assert body["context"] == ATTESTATION_CONTEXT
    return key


@pytest.fixture
def verified_job(
    client: TestClient, platform: Platform, acme: TenantCtx, worker: InProcessWorker
) -> str:
    submit(client, acme)
    return _run(client, platform, worker)


@pytest.fixture
def opened(
    client: TestClient, acme: TenantCtx, verified_job: str, recipient: HybridKemPrivateKey
) -> OpenedArchive:
    response = archive(client, acme, verified_job, recipient)
    assert response.status_code == 200, response.text
    return open_archive(recipient, response.content, served_key(client))


def test_a_verified_job_archives_everything_for_its_recipient(
    client: TestClient,
    acme: TenantCtx,
    verified_job: str,
    recipient: HybridKemPrivateKey,
) -> None:
    response = archive(client, acme, verified_job, recipient)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    assert f'filename="{verified_job}.qparchive"' in response.headers["content-disposition"]
    assert BELL.encode() not in response.content
    opened = open_archive(recipient, response.content, served_key(client))
    document, statement = opened.archive, opened.statement
    assert (document.circuit_format, document.circuit_source) == ("qasm2", BELL)
    assert document.log == RUN_LOG
    result = client.get(f"/v1/jobs/{verified_job}/result", headers=acme.headers).json()
    assert json.loads(document.result_json)["counts"] == result["counts"]
    job = document.job
    assert (job["id"], job["tenant_id"], job["project_id"]) == (
        verified_job,
        acme.tenant_id,
        acme.project_id,
    )
    assert (job["backend"], job["shots"], job["seed"], job["classification"]) == (
        "aer_statevector",
        1000,
        7,
        "internal",
    )
    history = job["history"]
    assert isinstance(history, list)
    assert [step["state"] for step in history][-2:] == ["succeeded", "verified"]
    assert all(str(step["at"]).endswith("Z") for step in history)
    assert (statement.job_id, statement.tenant_id, statement.shots, statement.seed) == (
        verified_job,
        acme.tenant_id,
        1000,
        7,
    )
    assert statement.finished_at == history[-2]["at"]


def test_only_the_recipients_private_key_opens_an_archive(
    client: TestClient, acme: TenantCtx, verified_job: str, recipient: HybridKemPrivateKey
) -> None:
    blob = archive(client, acme, verified_job, recipient).content

    with pytest.raises(IntegrityError, match="belongs to another key"):
        open_archive(HybridKemPrivateKey.generate(), blob, served_key(client))


def test_the_attestation_fails_when_the_archived_result_is_altered(
    client: TestClient, opened: OpenedArchive, recipient: HybridKemPrivateKey
) -> None:
    """Sealing needs only the recipient's public key: a re-sealed, edited archive must fail."""
    document = opened.archive
    result = json.loads(document.result_json)
    result["counts"] = {"00": result["shots"]}
    forged = replace(document, result_json=json.dumps(result, sort_keys=True))

    with pytest.raises(IntegrityError, match="result is not the one attested"):
        open_archive(recipient, seal_archive(recipient.public_key(), forged), served_key(client))


@pytest.mark.parametrize(("half", "at"), [("ML-DSA-65", _MLDSA_AT + 7), ("Ed25519", _ED25519_AT)])
def test_the_attestation_fails_when_either_signature_half_is_corrupted(
    client: TestClient, opened: OpenedArchive, recipient: HybridKemPrivateKey, half: str, at: int
) -> None:
    document = opened.archive
    corrupted = bytearray(document.attestation.signature)
    corrupted[at] ^= 0x80
    forged = replace(
        document, attestation=replace(document.attestation, signature=bytes(corrupted))
    )

    with pytest.raises(IntegrityError, match="both component signatures"):
        open_archive(recipient, seal_archive(recipient.public_key(), forged), served_key(client))


def test_the_attestation_holds_only_under_its_own_context_label(
    client: TestClient, opened: OpenedArchive
) -> None:
    attestation, key = opened.archive.attestation, served_key(client)

    hybrid_signature.verify(key, attestation.statement, attestation.signature, ATTESTATION_CONTEXT)
    with pytest.raises(IntegrityError):
        hybrid_signature.verify(
            key, attestation.statement, attestation.signature, "qplane/audit-checkpoint/v1"
        )


def test_an_archive_verified_with_another_attestation_key_fails(
    client: TestClient, acme: TenantCtx, verified_job: str, recipient: HybridKemPrivateKey
) -> None:
    blob = archive(client, acme, verified_job, recipient).content
    impostor = HybridSignaturePrivateKey.generate().public_key()

    with pytest.raises(IntegrityError):
        open_archive(recipient, blob, impostor)


def test_a_consultant_who_reads_results_but_not_circuits_is_refused_an_archive(
    client: TestClient,
    platform: Platform,
    acme: TenantCtx,
    operator_headers: dict[str, str],
    worker: InProcessWorker,
    recipient: HybridKemPrivateKey,
) -> None:
    admin, carla = consultant(client, platform, acme, operator_headers)
    submit(client, acme)
    job_id = _run(client, platform, worker)
    assert client.get(f"/v1/jobs/{job_id}/result", headers=carla.headers).status_code == 200
    circuit = client.get(f"/v1/jobs/{job_id}/circuit", headers=carla.headers)

    refused = archive(client, carla, job_id, recipient)

    assert refused.status_code == 403, refused.text
    assert refused.json()["type"] == circuit.json()["type"]
    assert refused.json()["detail"] == circuit.json()["detail"]
    assert refused.json()["detail"].endswith(":consultants-no-circuit-source)")
    assert BELL not in refused.text
    assert audit_entries(client, admin, "job.archive") == []
    # The tenant admin, under the same policy set, may archive it.
    assert archive(client, admin, job_id, recipient).status_code == 200


def test_another_tenants_job_answers_like_a_missing_one(
    client: TestClient,
    platform: Platform,
    acme: TenantCtx,
    globex: TenantCtx,
    worker: InProcessWorker,
    recipient: HybridKemPrivateKey,
) -> None:
    """The isolation walk's checks for this route (it is EXEMPT there: the lookup confined
    to B's tenant refuses before any decision, which the walk requires of a body)."""
    a_finished = _created(submit(client, acme))
    assert run_leased_job(client, platform, worker) == a_finished
    a_queued = _created(submit(client, acme))
    b = with_mfa(client, globex)  # a tenant admin with a fresh second factor
    a_names = {a_finished, a_queued, acme.tenant_id, acme.project_id, acme.email}

    for job_id in (a_finished, a_queued):
        answer = archive(client, b, job_id, recipient)
        made_up = archive(client, b, ids.new_id(ids.JOB), recipient)
        assert answer.status_code == 404, answer.text
        assert _shape(answer) == _shape(made_up)
        assert answer.json()["detail"] == "job not found"
        assert answer.json()["instance"] == f"/v1/jobs/{job_id}/archive"
        rest = json.dumps({k: v for k, v in answer.json().items() if k != "instance"})
        headers = json.dumps(dict(answer.headers))
        assert [name for name in a_names if name in rest or name in headers] == []
    assert audit_entries(client, with_mfa(client, acme), "job.archive") == []
    # The same body is valid: B archives a job of its own.
    b_job = _created(submit(client, b))
    assert run_leased_job(client, platform, worker) == b_job
    assert archive(client, b, b_job, recipient).status_code == 200


def test_a_job_that_is_not_verified_cannot_be_archived(
    client: TestClient, acme: TenantCtx, recipient: HybridKemPrivateKey
) -> None:
    job_id = _created(submit(client, acme))

    refused = archive(client, acme, job_id, recipient)

    assert refused.status_code == 409, refused.text
    assert refused.json()["state"] == "queued"


@pytest.mark.parametrize(
    "key",
    [
        "not a key",
        "-----BEGIN QPLANE HYBRID KEM PUBLIC KEY-----\nAAAA\n"
        "-----END QPLANE HYBRID KEM PUBLIC KEY-----",
        HybridSignaturePrivateKey.generate().public_key().to_pem(),  # a key of the wrong kind
        HybridKemPrivateKey.generate().to_pem(wrapping_key=None),  # a private key, by mistake
    ],
    # Stable ids: the generated keys differ in every process (and xdist worker).
    ids=["garbage", "truncated", "signature-key", "private-key"],
)
def test_a_malformed_recipient_key_is_refused_naming_the_field(
    client: TestClient, acme: TenantCtx, verified_job: str, key: str
) -> None:
    response = client.post(
        f"/v1/jobs/{verified_job}/archive",
        json={"recipient_public_key": key},
        headers=acme.headers,
    )

    assert response.status_code == 422, response.text
    assert response.json()["field"] == "recipient_public_key"
    assert response.json()["type"].endswith("/validation-failed")


@pytest.mark.parametrize(
    "body", [{}, {"recipient_public_key": 7}, {"recipient_public_key": "x" * 20_000}]
)
def test_a_body_without_a_recipient_key_is_refused(
    client: TestClient, acme: TenantCtx, verified_job: str, body: dict[str, Any]
) -> None:
    response = client.post(f"/v1/jobs/{verified_job}/archive", json=body, headers=acme.headers)

    assert response.status_code == 422, response.text
    assert "recipient_public_key" in response.json()["detail"]


def test_the_audit_entry_names_the_recipient_key_and_no_content(
    client: TestClient,
    platform: Platform,
    acme: TenantCtx,
    verified_job: str,
    recipient: HybridKemPrivateKey,
) -> None:
    assert archive(client, acme, verified_job, recipient).status_code == 200

    entries = audit_entries(client, with_mfa(client, acme), "job.archive")

    assert len(entries) == 1
    entry = entries[0]
    assert entry["target"] == verified_job
    assert f"recipient_key={recipient.public_key().fingerprint}" in entry["detail"]
    assert f"attestation_key={platform.attestation_key.key_id}" in entry["detail"]
    shown = json.dumps(entries)
    assert "cx q[0],q[1]" not in shown
    assert "OPENQASM" not in shown
    assert "counts" not in shown


def test_the_attestation_key_is_served_without_a_token(
    client: TestClient, platform: Platform
) -> None:
    assert served_key(client) == platform.attestation_key.public_key
    assert "PRIVATE" not in client.get("/v1/attestation-key").text


def test_the_attestation_key_file_is_private_and_refused_once_exposed(
    platform: Platform,
) -> None:
    key_dir = platform.settings.key_dir
    path = key_dir / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert AttestationKey.load_or_create(key_dir).key_id == platform.attestation_key.key_id

    os.chmod(path, 0o644)

    with pytest.raises(InsecureKeyFile):
        AttestationKey.load_or_create(key_dir)
    with pytest.raises(InsecureKeyFile):
        build_platform(platform.settings, upgrade=False)


def _created(response: Response) -> str:
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _shape(response: Response) -> tuple[object, ...]:
    body = response.json()
    return (response.status_code, body.get("type"), body.get("title"), body.get("detail"))
