"""MFA enrolment (TOTP, recovery codes) and step-up."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
