"""Errors the SDK raises: one per problem+json answer, carrying its fields."""

from __future__ import annotations

from typing import Any


class QplaneAPIError(Exception):
    """The server refused a request; ``problem`` is its RFC 9457 body."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        self.type = str(problem.get("type", "about:blank"))
        self.title = str(problem.get("title", problem.get("error", "error")))
        self.detail = str(problem.get("detail", problem.get("error_description", "")))
        super().__init__(f"{self.title}: {self.detail}" if self.detail else self.title)

    @property
    def slug(self) -> str:
        return self.type.rsplit("/", 1)[-1]

    @property
    def oauth_error(self) -> str | None:
        """The RFC 6749 ``error`` code of a token-endpoint answer, if it is one."""
        error = self.problem.get("error")
        return error if isinstance(error, str) else None

    @property
    def step_up_required(self) -> bool:
        """An RFC 9470 challenge: a recent second factor is needed (see `QplaneClient.step_up`)."""
        return self.status == 401 and self.slug == "insufficient-user-authentication"

    @property
    def mfa_token(self) -> str | None:
        """After a password login of an MFA account: the token for the second step."""
        token = self.problem.get("mfa_token") if self.slug == "mfa-required" else None
        return token if isinstance(token, str) else None
