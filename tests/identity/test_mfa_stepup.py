"""`require_recent_mfa`: fail closed unless a second factor was used recently enough."""

from __future__ import annotations

import pytest

from qplane.domain.tenancy import PrincipalKind, Role
from qplane.identity.stepup import StepUpRequired, require_recent_mfa
from qplane.policy.actor import Actor

NOW = 1_900_000_000


def _actor(amr: tuple[str, ...], acr: str | None = None, auth_time: int | None = NOW) -> Actor:
    return Actor(
        "usr_" + "1" * 32, PrincipalKind.OPERATOR, None, frozenset({Role.OPERATOR}),
        amr=amr, acr=acr, auth_time=auth_time,
    )  # fmt: skip


def _check(actor: Actor, max_age_s: int = 900) -> None:
    require_recent_mfa(actor, max_age_s, clock=lambda: NOW + 60)


@pytest.mark.parametrize(
    ("amr", "acr"),
    [
        (("pwd", "otp"), None),
        (("pwd", "mfa"), None),
        (("hwk",), None),
        (("pwd",), "http://schemas.openid.net/pape/policies/2007/06/multi-factor"),
        (("pwd",), "urn:qplane:acr:mfa"),
    ],
)
def test_recent_multi_factor_authentications_pass(amr: tuple[str, ...], acr: str | None) -> None:
    _check(_actor(amr, acr))


@pytest.mark.parametrize(
    "actor",
    [
        _actor(("pwd",)),
        _actor(()),
        _actor(("pwd", "otp"), auth_time=None),
        _actor(("pwd", "otp"), auth_time=NOW - 1000),
        _actor(("pwd", "otp"), auth_time=NOW + 3600),
    ],
)
def test_anything_else_is_refused_with_the_challenge(actor: Actor) -> None:
    with pytest.raises(StepUpRequired) as caught:
        _check(actor)
    assert caught.value.status == 401
    assert caught.value.extensions == {"acr_values": "urn:qplane:acr:mfa", "max_age": 900}
    assert caught.value.www_authenticate.startswith(
        'Bearer error="insufficient_user_authentication", error_description="'
    )
    assert caught.value.www_authenticate.endswith('acr_values="urn:qplane:acr:mfa", max_age=900')


def test_the_max_age_is_the_callers() -> None:
    with pytest.raises(StepUpRequired) as caught:
        _check(_actor(("pwd", "otp")), max_age_s=30)
    assert caught.value.max_age_s == 30
