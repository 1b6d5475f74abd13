"""SAML 2.0 single sign-on per tenant."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
