"""Workload identity federation (RFC 8693 token exchange) and DPoP."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
