"""Workload identity federation: trust policies that let an external workload act.

A `TrustPolicy` says which tokens of which external OpenID Connect issuer may
be exchanged for a short-lived platform token of one service principal,
scoped to one project. The checks live in `qplane.identity.federation`;
this module only holds the facts and the rules on their shape.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final
from urllib.parse import urlsplit

from qplane.domain.errors import ValidationFailed
from qplane.domain.tenancy import Role

#: No platform token minted by federation lives longer than this.
MAX_FEDERATED_TTL_S: Final = 600
_CLAIM_NAME: Final = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_MAX_CONDITIONS: Final = 16
_MAX_VALUE: Final = 512
FEDERATED_ROLES: Final = frozenset({Role.MEMBER, Role.VIEWER})


class ConditionOp(StrEnum):
    EQUALS = "eq"  # the claim is exactly this string
    GLOB = "glob"  # the claim (a string) matches this shell-style pattern


@dataclass(frozen=True, slots=True)
class ClaimCondition:
    claim: str
    op: ConditionOp
    value: str


@dataclass(frozen=True, slots=True)
class TrustPolicy:
    """Tokens of *issuer* for *audience* whose claims meet every condition may act
    as *principal_id* (a service principal) in *project_id* only."""

    id: str
    tenant_id: str
    project_id: str
    principal_id: str
    name: str
    issuer: str
    audience: str
    conditions: tuple[ClaimCondition, ...]
    roles: frozenset[Role]
    max_ttl_s: int
    require_dpop: bool
    created_at: datetime


def validate_issuer(value: str, *, allow_http_loopback: bool) -> str:
    """An issuer is an https URL without query or fragment (http only on loopback, if allowed)."""
    parts = urlsplit(value)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    scheme_ok = parts.scheme == "https" or (
        parts.scheme == "http" and loopback and allow_http_loopback
    )
    if not scheme_ok or not parts.hostname or parts.query or parts.fragment or len(value) > 255:
        raise ValidationFailed("issuer must be an https URL without query", field="issuer")
    return value  # compared exactly with the token's ``iss``: never normalised


def validate_conditions(raw: list[tuple[str, str, str]]) -> tuple[ClaimCondition, ...]:
    """At least one condition; a glob must hold some literal text (``*`` alone trusts everyone)."""
    if not 1 <= len(raw) <= _MAX_CONDITIONS:
        raise ValidationFailed(
            f"a trust policy needs 1 to {_MAX_CONDITIONS} claim conditions", field="conditions"
        )
    conditions: list[ClaimCondition] = []
    for claim, op, value in raw:
        if not _CLAIM_NAME.match(claim) or claim in ("iss", "aud", "exp", "nbf", "iat", "jti"):
            raise ValidationFailed(f"claim {claim!r} cannot be conditioned", field="conditions")
        try:
            kind = ConditionOp(op)
        except ValueError:
            raise ValidationFailed(f"unknown operator {op!r}", field="conditions") from None
        if not value or len(value) > _MAX_VALUE:
            raise ValidationFailed("condition values are 1-512 characters", field="conditions")
        if kind is ConditionOp.GLOB and not value.strip("*?[]!"):
            raise ValidationFailed("a glob must contain literal text", field="conditions")
        conditions.append(ClaimCondition(claim, kind, value))
    return tuple(conditions)


def validate_federated_roles(names: list[str]) -> frozenset[Role]:
    """Federated principals are members or viewers, never tenant admins."""
    try:
        roles = frozenset(Role(name) for name in names)
    except ValueError:
        raise ValidationFailed("roles must be member or viewer", field="roles") from None
    if not roles or not roles <= FEDERATED_ROLES:
        raise ValidationFailed("roles must be member or viewer", field="roles")
    return roles


def validate_max_ttl(value: int) -> int:
    if not 60 <= value <= MAX_FEDERATED_TTL_S:
        raise ValidationFailed(
            f"max_ttl_s must be between 60 and {MAX_FEDERATED_TTL_S}", field="max_ttl_s"
        )
    return value
