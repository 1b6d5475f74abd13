"""Sliding-window limits on failed attempts, counted in the database by every server.

A failure is one entry of the seen-token-id store (`SeenTokenIdRepository`)
under a random id, in a namespace derived from what is limited (an account,
a source address, an approver), expiring when it leaves the window. The
live entries of a namespace are therefore its recent failures, and every API
server sees the same count: spreading guesses over servers gains nothing.
The store is purged by the sweeper, so no table of its own is needed.

Security properties:

* What is limited (an email, an address, a principal id) never reaches the
  database: the namespace holds a truncated SHA-256 of it, per purpose.
* `FailureLimit.check` runs before the credential is looked at: once the
  limit is reached even the right credential is refused until failures age
  out of the window.
* A refusal because of the limit is not itself a failure, so it does not
  extend the lockout: a legitimate user gets back in at most ``window_s``
  after the last counted failure.
* Check and record are separate statements, so concurrent attempts can
  overshoot the limit by the number in flight at once, never more.
"""

from __future__ import annotations

import base64
import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from qplane.domain.errors import QuotaExceeded
from qplane.domain.ports import UnitOfWork

_PURPOSE_LENGTH: Final = 2
#: The namespace column holds 16 characters: purpose, ":" and 13 base32 digits (65 bits).
_DIGEST_LENGTH: Final = 13


@dataclass(frozen=True, slots=True)
class FailureLimit:
    """At most *max_failures* failures of one subject per *window_s* seconds.

    *purpose* (two letters) keeps different limits on the same subject apart;
    *refusal* is what the caller is told once the limit is reached.
    """

    purpose: str
    max_failures: int
    window_s: int
    refusal: str

    def __post_init__(self) -> None:
        if len(self.purpose) != _PURPOSE_LENGTH or not self.purpose.isalpha():
            raise ValueError("purpose must be two letters")
        if self.max_failures < 1 or self.window_s < 1:
            raise ValueError("max_failures and window_s must be positive")

    def check(self, uow: UnitOfWork, subject: str, now: float) -> None:
        """Return if *subject* may try again; else `QuotaExceeded` with ``retry_after_s``."""
        count, soonest = uow.seen_token_ids.count_live(self.namespace(subject), _at(now))
        if count < self.max_failures:
            return
        wait = self.window_s if soonest is None else soonest.timestamp() - now
        raise QuotaExceeded(self.refusal, retry_after_s=max(1, math.ceil(wait)))

    def record_failure(self, uow: UnitOfWork, subject: str, now: float) -> None:
        """Count one failure of *subject* until it leaves the window (in *uow*'s transaction)."""
        uow.seen_token_ids.first_use(
            self.namespace(subject),
            secrets.token_hex(16),
            _at(now + self.window_s),
            _at(now),
        )

    def namespace(self, subject: str) -> str:
        """Where *subject*'s failures are counted; the subject itself is not recoverable."""
        digest = hashlib.sha256(f"qplane/failures/{self.purpose}\x00{subject}".encode()).digest()
        encoded = base64.b32encode(digest).decode("ascii").lower()
        return f"{self.purpose}:{encoded[:_DIGEST_LENGTH]}"


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
