"""TOTP verification (RFC 6238, via pyotp) and recovery codes.

Security properties:

* A TOTP code is accepted for the current 30 s step or one step either side
  (clock drift), and only for a step *later* than the last one accepted for
  that principal: the same code (or an older one) is never accepted twice.
* Codes are compared in constant time.
* Recovery codes carry about 59 bits of randomness each; only their SHA-256
  digest is stored (a slow hash adds nothing at this entropy, and the
  lookup must be exact), and they are normalised (case, dashes, spaces)
  before hashing so a user can type them as printed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Final

import pyotp

STEP_S: Final = 30
DIGITS: Final = 6
DRIFT_STEPS: Final = 1
RECOVERY_CODES: Final = 10
_RECOVERY_ALPHABET: Final = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
_RECOVERY_LEN: Final = 12


def new_secret() -> str:
    """A fresh base32 TOTP secret (160 bits)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The ``otpauth://`` URI an authenticator app scans."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_S).provisioning_uri(
        name=account, issuer_name=issuer
    )


def matching_step(secret: str, code: str, now: float, after_step: int) -> int | None:
    """The time step *code* is valid for (within drift), if it is later than *after_step*."""
    candidate = code.strip().replace(" ", "")
    if len(candidate) != DIGITS or not candidate.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_S)
    current = int(now) // STEP_S
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if step > after_step and hmac.compare_digest(totp.at(step * STEP_S), candidate):
            return step
    return None


def new_recovery_codes(count: int = RECOVERY_CODES) -> list[str]:
    """*count* fresh codes formatted ``xxxx-xxxx-xxxx`` for display (once)."""
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LEN))
        codes.append("-".join(raw[i : i + 4] for i in range(0, _RECOVERY_LEN, 4)))
    return codes


def recovery_code_digest(code: str) -> str:
    """The stored form of a recovery code (hex SHA-256 of the normalised code)."""
    normalised = code.strip().lower().replace("-", "").replace(" ", "")
    return hashlib.sha256(("qplane/recovery/v1:" + normalised).encode()).hexdigest()
