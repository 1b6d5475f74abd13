"""The one exception hierarchy of qplane.

Every error a caller can see derives from `QplaneError`. Each subclass carries
a stable problem `type` slug and an HTTP-like status so that the API edge can
map it to RFC 9457 problem+json without knowing every subclass. Messages are
written for the caller: they never contain secrets, SQL, stack traces or
another tenant's data.
"""

from __future__ import annotations

from typing import Any, ClassVar


class QplaneError(Exception):
    """Base of every typed qplane error."""

    slug: ClassVar[str] = "internal"
    title: ClassVar[str] = "Internal error"
    status: ClassVar[int] = 500

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions: dict[str, Any] = extensions


class ValidationFailed(QplaneError):
    """Input was understood but breaks a rule (a limit, a format, a range)."""

    slug = "validation-failed"
    title = "Validation failed"
    status = 422


class NotFound(QplaneError):
    """The object does not exist *for this caller*.

    Another tenant's object answers exactly like a missing one, so an id
    guessed from another tenant reveals nothing.
    """

    slug = "not-found"
    title = "Not found"
    status = 404


class Unauthenticated(QplaneError):
    """No credential, or one that is invalid, expired or revoked."""

    slug = "unauthenticated"
    title = "Authentication required"
    status = 401


class Forbidden(QplaneError):
    """The caller is known but may not perform this action."""

    slug = "forbidden"
    title = "Forbidden"
    status = 403


class Conflict(QplaneError):
    """The request clashes with the current state (duplicate name, stale lease)."""

    slug = "conflict"
    title = "Conflict"
    status = 409


class IllegalTransition(Conflict):
    """A job was asked to move between two states the lifecycle does not connect."""

    slug = "illegal-transition"
    title = "Illegal job state transition"


class QuotaExceeded(QplaneError):
    """A per-tenant or per-project limit would be exceeded."""

    slug = "quota-exceeded"
    title = "Quota exceeded"
    status = 429


class ResidencyViolation(QplaneError):
    """A job, payload or result would be routed or stored outside its allowed regions.

    Not a `Forbidden`: the caller may act, but not there. The answer names the
    region and the regions allowed (the caller's own settings), and the
    service that refuses records the refusal in the audit log itself.
    """

    slug = "residency-violation"
    title = "Data residency violation"
    status = 403


class IntegrityError(QplaneError):
    """Stored data failed an integrity check (ciphertext, audit chain, signature)."""

    slug = "integrity-error"
    title = "Integrity check failed"
    status = 500
    #: For sealed data: (owner, subject, kind) it was opened for, so the failure can be
    #: audited once the failing transaction has ended. Never part of the answer.
    sealed_for: tuple[str, str, str] | None = None


class PayloadTooLarge(ValidationFailed):
    """A submitted payload exceeds the platform's size limit."""

    slug = "payload-too-large"
    title = "Payload too large"
    status = 413
