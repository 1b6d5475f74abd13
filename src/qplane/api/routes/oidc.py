"""OpenID Connect single sign-on per tenant."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
