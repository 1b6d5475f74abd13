"""Tables for mFA (TOTP, recovery codes) and the device authorization grant."""

from __future__ import annotations
