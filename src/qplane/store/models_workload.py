"""Tables for workload identity federation trust policies, token-exchange replay guard, DPoP."""

from __future__ import annotations
