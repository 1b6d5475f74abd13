"""Data residency: where a job may run and its payloads may be stored.

Regions are short slugs (``eu-west``). Every backend and every blob store
lives in one; a tenant, and each of its projects, may be limited to a set of
regions (empty: no limit). A project's set narrows the tenant's, never
widens it. Routing metadata (a job's id, state and region) may be kept
globally; circuits, results and logs stay in the job's region.
"""

from __future__ import annotations

from collections.abc import Iterable

from qplane.domain.errors import ResidencyViolation, ValidationFailed
from qplane.domain.tenancy import validate_region

MAX_REGIONS = 16


def normalise(regions: Iterable[str], what: str = "allowed_regions") -> tuple[str, ...]:
    """A sorted, de-duplicated tuple of valid, non-empty region slugs."""
    values = sorted(set(regions))
    if len(values) > MAX_REGIONS:
        raise ValidationFailed(f"at most {MAX_REGIONS} regions may be listed", field=what)
    for value in values:
        if not value:
            raise ValidationFailed("a region may not be empty", field=what)
        validate_region(value)
    return tuple(values)


def allows(allowed: tuple[str, ...], region: str) -> bool:
    return not allowed or region in allowed


def check_route(
    region: str,
    *,
    tenant_allowed: tuple[str, ...],
    project_allowed: tuple[str, ...],
    backend: str,
) -> None:
    """Raise `ResidencyViolation` unless *region* is allowed for the tenant and the project."""
    for scope, allowed in (("tenant", tenant_allowed), ("project", project_allowed)):
        if not allows(allowed, region):
            raise ResidencyViolation(
                f"backend {backend!r} is in region {region!r}, but the {scope} may use "
                f"only {', '.join(allowed)}",
                backend=backend,
                region=region,
                allowed_regions=list(allowed),
                scope=scope,
            )


def check_narrows(project_allowed: tuple[str, ...], tenant_allowed: tuple[str, ...]) -> None:
    """A project may only narrow its tenant's regions."""
    if not tenant_allowed:
        return
    outside = [r for r in project_allowed if r not in tenant_allowed]
    if outside:
        raise ValidationFailed(
            "a project's regions must be a non-empty subset of the tenant's "
            f"({', '.join(tenant_allowed)})",
            field="allowed_regions",
            outside=outside,
        )
