"""Execution-plane participants as the control plane records them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class WorkerRecord:
    """A registered worker: its public key proves its identity; it holds no secret of ours."""

    id: str
    name: str
    public_jwk: str  # JSON of the worker's Ed25519 public key (OKP JWK)
    backends: tuple[str, ...]
    created_at: datetime
    disabled: bool = False
    #: The region the worker runs in; it may serve only backends of that region.
    region: str = ""


@dataclass(frozen=True, slots=True)
class JobLease:
    """A worker's time-limited right to run one job. Expired leases are re-queued."""

    id: str
    job_id: str
    tenant_id: str
    worker_id: str
    created_at: datetime
    expires_at: datetime
