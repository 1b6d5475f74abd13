"""Tables for sessions: refresh-token families, revocation, legacy API keys."""

from __future__ import annotations
