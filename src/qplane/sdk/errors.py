"""Errors the SDK raises: one per problem+json answer, carrying its fields."""

from __future__ import annotations

from typing import Any


class QplaneAPIError(Exception):
    """The server refused a request; ``problem`` is its RFC 9457 body."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        self.type = str(problem.get("type", "about:blank"))
        self.title = str(problem.get("title", "error"))
        self.detail = str(problem.get("detail", ""))
        super().__init__(f"{self.title}: {self.detail}" if self.detail else self.title)

    @property
    def slug(self) -> str:
        return self.type.rsplit("/", 1)[-1]
