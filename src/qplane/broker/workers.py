"""The registry of execution-plane workers and the exchange of their key for a token."""

from __future__ import annotations

import json
from collections.abc import Sequence

from qplane.audit.actors import WORKER
from qplane.backends.catalogue import BackendCatalogue
from qplane.broker.auditing import audit
from qplane.domain import ids
from qplane.domain.audit import Outcome
from qplane.domain.clock import utcnow
from qplane.domain.errors import (
    Conflict,
    NotFound,
    ResidencyViolation,
    Unauthenticated,
    ValidationFailed,
)
from qplane.domain.ports import UnitOfWorkFactory
from qplane.domain.tenancy import validate_region, validate_slug
from qplane.domain.workers import WorkerRecord
from qplane.identity.tokens import AccessClaims, TokenIssuer
from qplane.identity.workload import verify_client_assertion
from qplane.policy.actions import Action
from qplane.policy.actor import Actor
from qplane.policy.authorizer import Authorizer
from qplane.policy.engine import PolicyEngine
from qplane.policy.facts import WorkerFacts

WORKER_AUDIENCE = "qplane-internal"


class WorkerRegistry:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        issuer: TokenIssuer,
        assertion_audience: str,
        token_ttl_s: int,
        *,
        authorizer: Authorizer | None = None,
        catalogue: BackendCatalogue | None = None,
    ) -> None:
        self._catalogue = catalogue
        self._uow = uow_factory
        self._authz = authorizer or Authorizer(PolicyEngine(), uow_factory)
        self._issuer = issuer
        self._assertion_audience = assertion_audience
        self._ttl = token_ttl_s

    def register(
        self,
        actor: Actor | None,
        name: str,
        public_jwk: str,
        backends: Sequence[str],
        region: str | None = None,
    ) -> WorkerRecord:
        """Register a worker's public key. *actor* None is the embedded bootstrap.

        A worker runs in one region and serves only backends of that region,
        so a job's payload never travels to another region to run: a region
        that differs from a backend's, or backends spread over several
        regions, are refused with `ResidencyViolation`. Only the embedded
        platform (everything on one machine) registers a worker for every
        region, with no region of its own.
        """
        validate_slug(name, "name")
        if actor is not None:
            candidate = WorkerFacts(name, frozenset(str(b)[:64] for b in backends))
            self._authz.on(actor, Action.WORKER_REGISTER, candidate)
        _check_public_jwk(public_jwk)
        if not backends:
            raise ValidationFailed("a worker must serve at least one backend", field="backends")
        home = self._region_of(backends, region, embedded=actor is None)
        worker = WorkerRecord(
            ids.new_id(ids.WORKER), name, public_jwk, tuple(backends), utcnow(), region=home
        )
        with self._uow() as uow:
            if uow.workers.by_name(name) is not None:
                raise Conflict(f"a worker named {name!r} is already registered")
            uow.workers.add(worker)
            audit(
                uow,
                actor,
                "worker.register",
                tenant_id=None,
                target=worker.id,
                detail="backends=" + ",".join(backends) + f" region={home or '*'}",
            )
            uow.commit()
        return worker

    def _region_of(self, backends: Sequence[str], region: str | None, *, embedded: bool) -> str:
        if region:
            validate_region(region)
        if self._catalogue is None:
            return region or ""
        located = {name: self._catalogue.get(name).info.region for name in backends}
        regions = set(located.values())
        if region:
            outside = sorted(name for name, where in located.items() if where != region)
            if outside:
                raise ResidencyViolation(
                    f"a worker in region {region!r} cannot serve backends of other regions: "
                    + ", ".join(f"{name} ({located[name]})" for name in outside),
                    region=region,
                    backends=outside,
                )
            return region
        if len(regions) == 1:
            return regions.pop()
        if embedded:
            return ""
        raise ResidencyViolation(
            "a worker runs in one region; these backends span "
            + ", ".join(sorted(regions))
            + ": register one worker per region",
            regions=sorted(regions),
        )

    def by_name(self, name: str) -> WorkerRecord | None:
        with self._uow() as uow:
            return uow.workers.by_name(name)

    def exchange(self, worker_id: str, assertion: str) -> tuple[str, AccessClaims]:
        """Swap a worker's signed assertion for a short-lived internal token.

        Unknown, disabled (revoked) and mis-signed workers, and replayed
        assertions, all get the same answer. The assertion's id is stored in
        the database before the token is issued, so each assertion buys one
        token across every API server.
        """
        with self._uow() as uow:
            try:
                worker = uow.workers.get(worker_id)
            except NotFound:
                worker = None
        if worker is None or worker.disabled:
            self._deny(worker_id, "unknown or disabled worker")
            raise Unauthenticated("worker authentication failed")
        try:
            with self._uow() as uow:
                verify_client_assertion(
                    assertion,
                    worker.public_jwk,
                    worker.id,
                    self._assertion_audience,
                    uow.seen_token_ids,
                )
                uow.commit()
        except Unauthenticated as exc:
            self._deny(worker_id, exc.detail)
            raise Unauthenticated("worker authentication failed") from None
        return self._issuer.issue(
            subject=worker.id,
            tenant=None,
            roles=frozenset({"worker"}),
            kind="worker",
            audience=WORKER_AUDIENCE,
            ttl_s=self._ttl,
        )

    def resolve(self, claims: AccessClaims) -> WorkerRecord:
        """The live worker behind a verified internal token."""
        if claims.kind != "worker":
            raise Unauthenticated("not a worker token")
        with self._uow() as uow:
            try:
                worker = uow.workers.get(claims.sub)
            except NotFound:
                raise Unauthenticated("worker authentication failed") from None
        if worker.disabled:
            raise Unauthenticated("worker authentication failed")
        return worker

    def _deny(self, worker_id: str, why: str) -> None:
        with self._uow() as uow:
            audit(
                uow,
                worker_id[:64],
                "worker.authenticate",
                tenant_id=None,
                target=None,
                outcome=Outcome.DENIED,
                detail=why,
                actor_kind=WORKER,  # the id may be malformed: it is still a worker's attempt
            )
            uow.commit()


def _check_public_jwk(public_jwk: str) -> None:
    try:
        jwk = json.loads(public_jwk)
    except ValueError:
        raise ValidationFailed("public_jwk is not JSON", field="public_jwk") from None
    if not isinstance(jwk, dict) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise ValidationFailed("public_jwk must be an Ed25519 OKP key", field="public_jwk")
    if "d" in jwk:
        raise ValidationFailed(
            "public_jwk contains a private key; send only the public part", field="public_jwk"
        )
