"""What the scheduler stores and shows besides jobs: calibrations as records, queue views."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class StoredCalibration:
    """A device calibration as the control plane keeps it: the record's JSON, unparsed.

    The worker receives ``data`` with the job it leases and builds the noise
    model from it; `qplane.domain.calibration.Calibration.from_json` parses it.
    """

    id: str
    backend: str
    taken_at: datetime
    data: str


@dataclass(frozen=True, slots=True)
class QueuePosition:
    """Where one of a tenant's jobs stands, from what the tenant may know.

    ``position`` counts only the tenant's own jobs ahead of it on the same
    backend (1: next of its own); ``estimated_start`` is derived from the
    tenant's own work ahead and the device's calendar, never from other
    tenants' jobs. ``waiting_for`` names what
    holds the job back, if anything the tenant can see.
    """

    job_id: str
    backend: str
    position: int
    estimated_start: datetime
    waiting_for: str | None


def coarsen(at: datetime, step_s: float) -> datetime:
    """*at* rounded down to a multiple of *step_s* seconds (0: unchanged).

    Times shown to tenants are coarsened so that their jobs' state changes
    cannot be used as a fine clock on the shared device's other work.
    Rounding down keeps the order of a job's own steps.
    """
    if step_s <= 0:
        return at
    epoch = at.timestamp()
    return datetime.fromtimestamp(epoch - (epoch % step_s), tz=at.tzinfo)


def coarsen_up(at: datetime, step_s: float) -> datetime:
    """*at* rounded up to a multiple of *step_s* (estimates: never earlier than computed)."""
    down = coarsen(at, step_s)
    return (
        down
        if down == at or step_s <= 0
        else datetime.fromtimestamp(down.timestamp() + step_s, tz=at.tzinfo)
    )
