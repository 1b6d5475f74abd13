"""Worker identity: private key files, single-use assertions, bound result signatures."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from joserfc.jwk import OKPKey

from qplane.crypto import InsecureKeyFile
from qplane.domain.errors import IntegrityError, Unauthenticated
from qplane.domain.ports import SeenTokenIdRepository
from qplane.identity import _jose
from qplane.identity.workload import (
    ASSERTION_TYPE,
    LEEWAY_S,
    WorkerKey,
    make_client_assertion,
    sign_result,
    verify_client_assertion,
    verify_result_signature,
)
from qplane.store.database import Database

WORKER = "wrk_1"
AUDIENCE = "https://qplane.example/internal/v1/token"
NOW = 1_900_000_000
RESULT = b'{"counts": {"00": 503, "11": 497}}'


def _at(moment: float) -> Any:
    return lambda: moment


@pytest.fixture
def raw_key() -> OKPKey:
    """The worker's private key as joserfc sees it, to sign arbitrary claims."""
    return _jose.generate_key()


@pytest.fixture
def worker_key(raw_key: OKPKey) -> WorkerKey:
    return WorkerKey(raw_key)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """One migrated SQLite database for the module's pure verification tests."""
    db = Database(f"sqlite:///{tmp_path_factory.mktemp('seen') / 'qplane.db'}")
    db.upgrade()
    yield db
    db.dispose()


@pytest.fixture
def seen(store: Database) -> Iterator[SeenTokenIdRepository]:
    """The real assertion-id store, in a transaction that is never committed: each test starts
    with nothing seen."""
    with store.unit_of_work() as uow:
        yield uow.seen_token_ids


def _verify(assertion: str, key: WorkerKey, seen: SeenTokenIdRepository, **kw: Any) -> None:
    verify_client_assertion(
        assertion,
        key.public_jwk_json(),
        kw.pop("worker_id", WORKER),
        kw.pop("audience", AUDIENCE),
        seen,
        clock=kw.pop("clock", _at(NOW)),
    )


def _assertion(
    key: OKPKey, typ: str = ASSERTION_TYPE, kid: str | None = None, **overrides: Any
) -> str:
    """An assertion signed by *key* with arbitrary claims, as an attacker could make."""
    claims = {
        "iss": WORKER,
        "sub": WORKER,
        "aud": AUDIENCE,
        "iat": NOW,
        "exp": NOW + 60,
        "jti": "jti-1",
        **overrides,
    }
    claims = {name: value for name, value in claims.items() if value is not ...}
    header = {"typ": typ, "kid": kid or key.kid}
    return _jose.sign_compact(header, json.dumps(claims).encode(), key)


# --- the key file -------------------------------------------------------------


def test_worker_key_file_is_private_and_reloads(tmp_path: Path) -> None:
    path = tmp_path / "workers" / "w.pem"
    key = WorkerKey.load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert WorkerKey.load_or_create(path).kid == key.kid


def test_group_readable_worker_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.pem"
    WorkerKey.load_or_create(path)
    os.chmod(path, 0o644)
    with pytest.raises(InsecureKeyFile):
        WorkerKey.load_or_create(path)


def test_public_jwk_has_no_private_part(worker_key: WorkerKey) -> None:
    jwk = json.loads(worker_key.public_jwk_json())
    assert "d" not in jwk
    assert jwk["kid"] == worker_key.kid
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == ("OKP", "Ed25519", "EdDSA", "sig")
    assert repr(worker_key) == f"WorkerKey(kid={worker_key.kid!r})"


# --- client assertions --------------------------------------------------------


def test_assertion_round_trip(worker_key: WorkerKey, seen: SeenTokenIdRepository) -> None:
    assertion = make_client_assertion(worker_key, WORKER, AUDIENCE, clock=_at(NOW))
    _verify(assertion, worker_key, seen)
    header = _jose.peek_header(assertion)
    assert header == {"typ": ASSERTION_TYPE, "kid": worker_key.kid, "alg": "EdDSA"}


def test_assertion_replay_is_refused(worker_key: WorkerKey, seen: SeenTokenIdRepository) -> None:
    assertion = make_client_assertion(worker_key, WORKER, AUDIENCE, clock=_at(NOW))
    _verify(assertion, worker_key, seen)
    with pytest.raises(Unauthenticated, match="already used"):
        _verify(assertion, worker_key, seen)


def test_same_jti_from_two_workers_is_not_a_replay(
    raw_key: OKPKey, worker_key: WorkerKey, seen: SeenTokenIdRepository
) -> None:
    other_raw = _jose.generate_key()
    _verify(_assertion(raw_key), worker_key, seen)
    _verify(
        _assertion(other_raw, iss="wrk_2", sub="wrk_2"),
        WorkerKey(other_raw),
        seen,
        worker_id="wrk_2",
    )


def test_replay_is_refused_by_every_server_sharing_the_database(
    database: Database, worker_key: WorkerKey
) -> None:
    assertion = make_client_assertion(worker_key, WORKER, AUDIENCE, clock=_at(NOW))
    with database.unit_of_work() as first_server:
        _verify(assertion, worker_key, first_server.seen_token_ids)
        first_server.commit()
    with database.unit_of_work() as second_server, pytest.raises(Unauthenticated, match="used"):
        _verify(assertion, worker_key, second_server.seen_token_ids)


def test_assertion_id_is_kept_while_the_assertion_is_acceptable_and_then_forgotten(
    seen: SeenTokenIdRepository, worker_key: WorkerKey
) -> None:
    assertion = make_client_assertion(worker_key, WORKER, AUDIENCE, ttl_s=300, clock=_at(NOW))
    _verify(assertion, worker_key, seen)
    last_acceptable = NOW + 300 + LEEWAY_S - 1
    with pytest.raises(Unauthenticated, match="already used"):
        _verify(assertion, worker_key, seen, clock=_at(last_acceptable))
    with pytest.raises(Unauthenticated, match="expired"):
        _verify(assertion, worker_key, seen, clock=_at(last_acceptable + 1))
    assert seen.count_live("wrk", datetime.fromtimestamp(last_acceptable + 1, UTC))[0] == 1
    assert seen.count_live("wrk", datetime.fromtimestamp(last_acceptable + 2, UTC))[0] == 0


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"iss": "wrk_2"}, "claims not accepted"),
        ({"sub": "wrk_2"}, "claims not accepted"),
        ({"aud": "https://elsewhere.example/token"}, "claims not accepted"),
        ({"exp": NOW - 31}, "expired"),
        ({"iat": NOW + 120, "exp": NOW + 180}, "claims not accepted"),
        ({"nbf": NOW + 120}, "claims not accepted"),
        ({"iat": NOW - 200, "exp": NOW + 200}, "lifetime too long"),
        ({"exp": NOW}, "claims not accepted"),  # exp not after iat
        ({"iat": float(NOW)}, "claims not accepted"),
        ({"jti": ...}, "missing required claims"),
        ({"exp": ...}, "missing required claims"),
        ({"iat": ...}, "missing required claims"),
        ({"jti": "x" * 200}, "claims not accepted"),
        ({"jti": 5}, "claims not accepted"),
    ],
)
def test_bad_assertion_claims_are_refused(
    raw_key: OKPKey,
    worker_key: WorkerKey,
    seen: SeenTokenIdRepository,
    overrides: dict[str, Any],
    reason: str,
) -> None:
    with pytest.raises(Unauthenticated, match=reason):
        _verify(_assertion(raw_key, **overrides), worker_key, seen)


def test_assertion_for_another_worker_id_is_refused(
    worker_key: WorkerKey, seen: SeenTokenIdRepository
) -> None:
    assertion = make_client_assertion(worker_key, WORKER, AUDIENCE, clock=_at(NOW))
    with pytest.raises(Unauthenticated):
        _verify(assertion, worker_key, seen, worker_id="wrk_2")


def test_assertion_signed_by_another_key_is_refused(
    worker_key: WorkerKey, seen: SeenTokenIdRepository
) -> None:
    stranger = _jose.generate_key()
    assertion = make_client_assertion(WorkerKey(stranger), WORKER, AUDIENCE, clock=_at(NOW))
    with pytest.raises(Unauthenticated, match="assertion invalid"):
        _verify(assertion, worker_key, seen)
    # Even when the attacker copies the victim's kid into the header.
    with pytest.raises(Unauthenticated, match="assertion invalid"):
        _verify(_assertion(stranger, kid=worker_key.kid), worker_key, seen)


@pytest.mark.parametrize("typ", ["JWT", "at+jwt", "qplane-result+jws"])
def test_assertion_with_another_type_is_refused(
    raw_key: OKPKey, worker_key: WorkerKey, seen: SeenTokenIdRepository, typ: str
) -> None:
    with pytest.raises(Unauthenticated, match="assertion invalid"):
        _verify(_assertion(raw_key, typ=typ), worker_key, seen)


def test_result_signature_is_not_an_assertion(
    worker_key: WorkerKey, seen: SeenTokenIdRepository
) -> None:
    signature = sign_result(worker_key, "job_1", "lse_1", RESULT)
    with pytest.raises(Unauthenticated):
        _verify(signature, worker_key, seen)


@pytest.mark.parametrize("assertion", ["", "a.b.c", "x" * 10_000, "eyJhbGciOiJub25lIn0.e30."])
def test_malformed_assertions_are_refused(
    worker_key: WorkerKey, seen: SeenTokenIdRepository, assertion: str
) -> None:
    with pytest.raises(Unauthenticated):
        _verify(assertion, worker_key, seen)


def test_unusable_registered_key_is_refused(
    worker_key: WorkerKey, seen: SeenTokenIdRepository
) -> None:
    assertion = make_client_assertion(worker_key, WORKER, AUDIENCE, clock=_at(NOW))
    for registered in ("not json", "{}", json.dumps({"kty": "oct", "k": "AAAA"})):
        with pytest.raises(Unauthenticated, match="worker key not usable"):
            verify_client_assertion(assertion, registered, WORKER, AUDIENCE, seen, clock=_at(NOW))


def test_assertion_lifetime_is_capped_when_making(worker_key: WorkerKey) -> None:
    with pytest.raises(ValueError, match="ttl_s"):
        make_client_assertion(worker_key, WORKER, AUDIENCE, ttl_s=301)


# --- result signatures ----------------------------------------------------------


def test_result_signature_round_trip(worker_key: WorkerKey) -> None:
    signature = sign_result(worker_key, "job_1", "lse_1", RESULT)
    verify_result_signature(signature, worker_key.public_jwk_json(), "job_1", "lse_1", RESULT)


@pytest.mark.parametrize(
    ("job", "lease", "result"),
    [("job_2", "lse_1", RESULT), ("job_1", "lse_2", RESULT), ("job_1", "lse_1", RESULT + b" ")],
)
def test_result_signature_binds_job_lease_and_bytes(
    worker_key: WorkerKey, job: str, lease: str, result: bytes
) -> None:
    signature = sign_result(worker_key, "job_1", "lse_1", RESULT)
    with pytest.raises(IntegrityError, match="does not match"):
        verify_result_signature(signature, worker_key.public_jwk_json(), job, lease, result)


def test_result_signed_by_another_worker_is_refused(worker_key: WorkerKey) -> None:
    signature = sign_result(WorkerKey.generate(), "job_1", "lse_1", RESULT)
    with pytest.raises(IntegrityError, match="result signature invalid"):
        verify_result_signature(signature, worker_key.public_jwk_json(), "job_1", "lse_1", RESULT)


def test_tampered_or_malformed_result_signatures_are_refused(worker_key: WorkerKey) -> None:
    signature = sign_result(worker_key, "job_1", "lse_1", RESULT)
    head, payload, sig = signature.split(".")
    flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    assertion = make_client_assertion(worker_key, WORKER, AUDIENCE)
    for bad in (f"{head}.{payload}.{flipped}", "", "a.b.c", assertion, f"{head}..{sig}"):
        with pytest.raises(IntegrityError):
            verify_result_signature(bad, worker_key.public_jwk_json(), "job_1", "lse_1", RESULT)


def test_assertion_with_extra_header_members_is_refused(
    raw_key: OKPKey, worker_key: WorkerKey, seen: SeenTokenIdRepository
) -> None:
    claims = {"iss": WORKER, "sub": WORKER, "aud": AUDIENCE, "iat": NOW, "exp": NOW + 60}
    header = {"typ": ASSERTION_TYPE, "kid": worker_key.kid, "jku": "https://evil.example/k"}
    assertion = _jose.sign_compact(header, json.dumps({**claims, "jti": "j"}).encode(), raw_key)
    with pytest.raises(Unauthenticated, match="assertion invalid"):
        _verify(assertion, worker_key, seen)
