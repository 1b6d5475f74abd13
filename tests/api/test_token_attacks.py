"""Known attacks on bearer tokens: each fails with 401 and leaves a denied entry in the audit log.

Each attack is one `Attack` in `ATTACKS`: a name, the reason the API must
give, and a ``forge`` function that turns the live `AttackKit` (a real
platform, a logged-in tenant admin) into the `Probe` request to send. A new
case (such as DPoP proof replay, added with the DPoP feature) is one more
`Attack` appended to `ATTACKS`; `test_attack_is_refused_and_audited` runs it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient
from joserfc import jwt

from qplane.bootstrap import Platform
from qplane.domain.audit import PLATFORM_LOG, AuditEntry, Outcome
from qplane.identity import _jose
from qplane.identity.signing import SigningKeys
from qplane.identity.tokens import TokenIssuer
from qplane.sdk.dpop import DPoPKey
from tests.api.conftest import BELL, TenantCtx

PROTECTED = "/v1/backends"


@dataclass
class Probe:
    """One HTTP request an attacker sends."""

    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    form: dict[str, str] | None = None


@dataclass
class AttackKit:
    """What an attacker is assumed to have: the public JWKS and a token of their own."""

    client: TestClient
    platform: Platform
    victim: TenantCtx
    refresh_token: str

    @property
    def keys(self) -> SigningKeys:
        return self.platform.signing_keys

    def claims(self) -> dict[str, Any]:
        """The payload of the victim's (valid) access token, to be replayed or altered."""
        payload = self.victim.admin_token.split(".")[1]
        decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=="))
        return decoded

    def issuer(self, *, issuer: str | None = None, shift_s: float = 0) -> TokenIssuer:
        settings = self.platform.settings
        return TokenIssuer(
            self.keys,
            issuer or settings.issuer,
            settings.token_audience,
            settings.token_ttl_s,
            clock=lambda: time.time() + shift_s,
        )


@dataclass(frozen=True)
class Attack:
    name: str
    reason: str
    forge: Callable[[AttackKit], Probe]
    challenge: str = "Bearer"  # the WWW-Authenticate scheme of the refusal


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value).encode())


def _bearer(token: str) -> Probe:
    return Probe("GET", PROTECTED, {"Authorization": f"Bearer {token}"})


def _signed(kit: AttackKit, claims: dict[str, Any], **header: Any) -> str:
    full = {"alg": "EdDSA", "typ": "at+jwt", "kid": kit.keys.current.kid, **header}
    return jwt.encode(full, claims, kit.keys.current.private, registry=_jose.REGISTRY)


def _alg_none(kit: AttackKit) -> Probe:
    header = {"alg": "none", "typ": "at+jwt", "kid": kit.keys.current.kid}
    return _bearer(f"{_segment(header)}.{_segment(kit.claims())}.")


def _hs256_with_public_key(encoding: str) -> Callable[[AttackKit], Probe]:
    def forge(kit: AttackKit) -> Probe:
        public = kit.keys.current.public.public_key
        secret = (
            public.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            if encoding == "pem"
            else public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        )
        header = {"alg": "HS256", "typ": "at+jwt", "kid": kit.keys.current.kid}
        signing_input = f"{_segment(header)}.{_segment(kit.claims())}"
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        return _bearer(f"{signing_input}.{_b64(mac)}")

    return forge


def _unknown_kid(kit: AttackKit) -> Probe:
    stranger = SigningKeys.ephemeral()
    header = {"alg": "EdDSA", "typ": "at+jwt", "kid": stranger.current.kid}
    token = jwt.encode(header, kit.claims(), stranger.current.private, registry=_jose.REGISTRY)
    return _bearer(token)


def _hostile_kid(kid: str) -> Callable[[AttackKit], Probe]:
    return lambda kit: _bearer(_signed(kit, kit.claims(), kid=kid))


def _expired(kit: AttackKit) -> Probe:
    sub, tenant = kit.claims()["sub"], kit.victim.tenant_id
    token, _ = kit.issuer(shift_s=-3600).issue(sub, tenant, (), "user")
    return _bearer(token)


def _not_yet_valid(kit: AttackKit) -> Probe:
    claims = kit.claims()
    claims["nbf"] = claims["iat"] + 3600
    return _bearer(_signed(kit, claims))


def _wrong_issuer(kit: AttackKit) -> Probe:
    ctx = kit.victim
    token, _ = kit.issuer(issuer="https://evil.example").issue(
        kit.claims()["sub"], ctx.tenant_id, (), "user"
    )
    return _bearer(token)


def _wrong_audience(kit: AttackKit) -> Probe:
    ctx = kit.victim
    token, _ = kit.issuer().issue(
        kit.claims()["sub"], ctx.tenant_id, (), "user", audience="other-api"
    )
    return _bearer(token)


def _altered_payload(**changes: Any) -> Callable[[AttackKit], Probe]:
    """The victim's genuine token with its payload changed and its signature kept."""

    def forge(kit: AttackKit) -> Probe:
        header, _, signature = kit.victim.admin_token.split(".")
        claims = {**kit.claims(), **changes}
        return _bearer(f"{header}.{_segment(claims)}.{signature}")

    return forge


def _refresh_reuse(kit: AttackKit) -> Probe:
    form = {"grant_type": "refresh_token", "refresh_token": kit.refresh_token}
    rotated = kit.client.post("/v1/auth/token", data=form)
    assert rotated.status_code == 200, rotated.text  # the legitimate use
    return Probe("POST", "/v1/auth/token", form=form)  # the stolen copy, replayed


def _dpop_proof_replay(kit: AttackKit) -> Probe:
    """A DPoP-bound token and its proof, captured in transit and sent again."""
    key = DPoPKey.generate()
    claims = kit.claims()
    token, _ = kit.issuer().issue(
        claims["sub"], kit.victim.tenant_id, claims["roles"], "user", cnf_jkt=key.jkt
    )
    headers = {
        "Authorization": f"DPoP {token}",
        "DPoP": key.proof("GET", "http://testserver" + PROTECTED, token),
    }
    used = kit.client.get(PROTECTED, headers=headers)
    assert used.status_code == 200, used.text  # the legitimate request
    return Probe("GET", PROTECTED, headers)  # the captured copy, replayed


ATTACKS: list[Attack] = [
    Attack("alg none", "token algorithm not accepted", _alg_none),
    Attack("HS256 keyed with the PEM public key", "token algorithm not accepted",
           _hs256_with_public_key("pem")),
    Attack("HS256 keyed with the raw public key", "token algorithm not accepted",
           _hs256_with_public_key("raw")),
    Attack("unknown kid", "token signing key unknown", _unknown_kid),
    Attack("kid path traversal", "token signing key unknown",
           _hostile_kid("../../../../../../etc/passwd")),
    Attack("kid pointing at a key file", "token signing key unknown",
           _hostile_kid("../keys/signing/ed25519-0001.pem")),
    Attack("kid SQL injection", "token signing key unknown", _hostile_kid("' OR '1'='1")),
    Attack("kid SQL injection, stacked", "token signing key unknown",
           _hostile_kid("x'; DROP TABLE principals; --")),
    Attack("expired", "token expired", _expired),
    Attack("not yet valid", "token not yet valid", _not_yet_valid),
    Attack("wrong issuer", "token issuer not accepted", _wrong_issuer),
    Attack("wrong audience", "token audience not accepted", _wrong_audience),
    Attack("tenant claim changed to another tenant", "token signature invalid",
           _altered_payload(tenant="ten_" + "0" * 32)),
    Attack("roles escalated in the payload", "token signature invalid",
           _altered_payload(roles=["tenant_admin", "operator"], kind="operator", tenant=None)),
    Attack("refresh token reused", "refresh token reused; session revoked", _refresh_reuse),
    Attack("DPoP proof replayed", "DPoP proof already used", _dpop_proof_replay, "DPoP"),
]  # fmt: skip


@pytest.fixture
def kit(client: TestClient, platform: Platform, acme: TenantCtx) -> AttackKit:
    response = client.post(
        "/v1/auth/login", json={"email": acme.email, "password": "tenant-password-1"}
    )
    assert response.status_code == 200, response.text
    return AttackKit(client, platform, acme, response.json()["refresh_token"])


def _platform_chain(platform: Platform) -> list[AuditEntry]:
    with platform.database.unit_of_work() as uow:
        return list(uow.audit.entries(PLATFORM_LOG))


def _send(client: TestClient, probe: Probe) -> Any:
    if probe.form is not None:
        return client.request(probe.method, probe.path, headers=probe.headers, data=probe.form)
    return client.request(probe.method, probe.path, headers=probe.headers)


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda attack: attack.name)
def test_attack_is_refused_and_audited(kit: AttackKit, attack: Attack) -> None:
    probe = attack.forge(kit)
    before = len(_platform_chain(kit.platform))
    response = _send(kit.client, probe)
    assert response.status_code == 401, response.text
    assert response.json()["detail"] == attack.reason
    assert response.headers["WWW-Authenticate"].startswith(attack.challenge)
    denied = _platform_chain(kit.platform)[before:]
    assert [(e.action, e.outcome, e.detail) for e in denied] == [
        (f"{probe.method} {probe.path}", Outcome.DENIED, attack.reason)
    ]


def test_the_victims_own_token_still_works(kit: AttackKit) -> None:
    """Control: the attacks fail because of the forgery, not because the token is bad."""
    assert kit.client.get(PROTECTED, headers=kit.victim.headers).status_code == 200


def test_refresh_reuse_also_ends_the_legitimate_session(kit: AttackKit) -> None:
    form = {"grant_type": "refresh_token", "refresh_token": kit.refresh_token}
    newer = kit.client.post("/v1/auth/token", data=form).json()["refresh_token"]
    assert kit.client.post("/v1/auth/token", data=form).status_code == 401
    again = kit.client.post("/v1/auth/token", data={**form, "refresh_token": newer})
    assert again.status_code == 401
    with kit.platform.database.unit_of_work() as uow:
        tenant_chain = list(uow.audit.entries(kit.victim.tenant_id))
    assert any(e.action == "auth.session.revoke" for e in tenant_chain)


def test_another_tenants_valid_token_reads_nothing(
    client: TestClient, acme: TenantCtx, globex: TenantCtx
) -> None:
    body = {"project_id": globex.project_id, "source": BELL, "backend": "aer_statevector",
            "shots": 100}  # fmt: skip
    job = client.post("/v1/jobs", json=body, headers=globex.headers)
    assert job.status_code == 201, job.text
    job_id = job.json()["id"]
    for path in (f"/v1/jobs/{job_id}", f"/v1/jobs/{job_id}/result"):
        response = client.get(path, headers=acme.headers)
        assert response.status_code == 404, (path, response.text)
        assert job_id not in response.text or "not found" in response.text
    cancelled = client.post(f"/v1/jobs/{job_id}/cancel", headers=acme.headers)
    assert cancelled.status_code == 404
    assert client.get(f"/v1/jobs/{job_id}", headers=globex.headers).json()["state"] == "queued"
