"""Errors of the policy engine, inside qplane's one hierarchy.

Tenant policy text that breaks a rule raises the plain `ValidationFailed`;
these two cover what is neither: a broken platform configuration, and a
malformed policy test case.
"""

from __future__ import annotations

from qplane.domain.errors import QplaneError, ValidationFailed


class InvalidPolicyConfiguration(QplaneError):
    """The platform's schema or baseline is broken, so the engine refuses to start.

    Raised only while building a `PolicyEngine`: deciding with a baseline that
    does not validate would silently drop the guard rails it was meant to hold.
    """

    slug = "policy-configuration"
    title = "Policy configuration invalid"
    status = 500


class InvalidPolicyCase(ValidationFailed):
    """A policy test case (or its file) cannot be understood; names the case."""

    slug = "invalid-policy-case"
    title = "Invalid policy test case"

    def __init__(self, case: str | None, detail: str) -> None:
        where = "cases file" if case is None else f"case {case!r}"
        super().__init__(f"{where}: {detail}", case=case)
        self.case = case
