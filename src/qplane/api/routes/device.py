"""The OAuth 2.0 device authorization grant (RFC 8628)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
