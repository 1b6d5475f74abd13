"""Probing tenant isolation through the public API, as `qplane demo` does.

One tenant's token asks for another tenant's job, result and project. Each
probe must be refused with 404, and the refusal must be *indistinguishable*
from the answer for an object that does not exist at all (same status, type,
title and detail), so a probe learns nothing, not even that the id is real.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from qplane.domain import ids
from qplane.sdk.client import QplaneClient
from qplane.sdk.errors import QplaneAPIError

_PLACEHOLDER: Final = "<id>"
_PROBE_CIRCUIT: Final = (
    'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[1];\ncreg c[1];\nh q[0];\nmeasure q -> c;\n'
)


@dataclass(frozen=True, slots=True)
class Probe:
    """One request a tenant must not be able to make against another tenant's object."""

    name: str
    target_kind: str  # ids.JOB or ids.PROJECT: what a "missing" look-alike id is made of
    call: Callable[[QplaneClient, str], object]


PROBES: Final = (
    Probe("GET /v1/jobs/{job}", ids.JOB, lambda c, i: c.job(i)),
    Probe("GET /v1/jobs/{job}/result", ids.JOB, lambda c, i: c.result(i)),
    Probe("GET /v1/projects/{project}/jobs", ids.PROJECT, lambda c, i: c.jobs(i)),
    Probe("POST /v1/jobs/{job}/cancel", ids.JOB, lambda c, i: c.cancel(i)),
    Probe(
        "POST /v1/jobs into {project}",
        ids.PROJECT,
        lambda c, i: c.submit(i, _PROBE_CIRCUIT, "aer_statevector", 16),
    ),
)


@dataclass(frozen=True, slots=True)
class IsolationCheck:
    """The outcome of one probe by *attacker* against *victim*'s object."""

    attacker: str
    victim: str
    probe: str
    target: str
    status: int | None  # None: the request succeeded, i.e. data leaked
    same_as_missing: bool

    @property
    def passed(self) -> bool:
        return self.status == 404 and self.same_as_missing

    def describe(self) -> str:
        what = self.probe.format(job=self.target, project=self.target)
        if self.status is None:
            return f"{self.attacker} → {self.victim}: {what} SUCCEEDED (isolation broken)"
        if self.status != 404:
            return f"{self.attacker} → {self.victim}: {what} refused with {self.status}, not 404"
        if not self.same_as_missing:
            return (
                f"{self.attacker} → {self.victim}: {what} refused with 404, but differently "
                "from a missing object (the refusal leaks that it exists)"
            )
        return (
            f"{self.attacker} → {self.victim}: {what} refused with 404 "
            "(identical to an object that does not exist)"
        )


def check(
    attacker: QplaneClient, attacker_name: str, victim_name: str, probe: Probe, target: str
) -> IsolationCheck:
    """Run *probe* against *target* and against a fresh, missing id, and compare the answers."""
    seen = _refusal(attacker, probe, target)
    missing_id = ids.new_id(probe.target_kind)
    baseline = _refusal(attacker, probe, missing_id)
    same = (
        seen is not None
        and baseline is not None
        and _fingerprint(seen, target) == _fingerprint(baseline, missing_id)
    )
    return IsolationCheck(
        attacker=attacker_name,
        victim=victim_name,
        probe=probe.name,
        target=target,
        status=None if seen is None else seen.status,
        same_as_missing=same,
    )


def _refusal(client: QplaneClient, probe: Probe, target: str) -> QplaneAPIError | None:
    try:
        probe.call(client, target)
    except QplaneAPIError as exc:
        return exc
    return None


def _fingerprint(error: QplaneAPIError, target: str) -> tuple[int, str, str, str]:
    """What a caller can tell apart in a refusal (per-request fields like ids aside)."""
    detail = error.detail.replace(target, _PLACEHOLDER)
    return (error.status, error.type, error.title, detail)
