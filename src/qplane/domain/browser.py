"""Browser sessions of the device verification page (RFC 8628 §3.3), as the services see them.

A browser session exists only to let a person approve one device login in a
browser: it remembers which user code the page is about, the CSRF token its
next form must carry and, once the person has signed in, *how* they signed
in. It never holds a platform token, and both the cookie naming it and the
CSRF token are kept only as digests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class BrowserSignIn:
    """Who signed in on the device page and how: what an approval carries on to the device."""

    principal_id: str
    tenant_id: str | None
    amr: tuple[str, ...]
    acr: str
    auth_time: int | None
    signed_in_at: datetime


@dataclass(frozen=True, slots=True)
class BrowserSession:
    """One short-lived, single-use session of the device page, keyed by its cookie's digest."""

    id_hash: str
    csrf_hash: str
    user_code: str
    created_at: datetime
    expires_at: datetime
    sign_in: BrowserSignIn | None = None
