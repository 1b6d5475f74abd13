"""Refresh tokens, revocation and (legacy, off by default) API keys."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
