"""Column types that keep the domain's guarantees across both databases."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from qplane.domain.clock import as_utc


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp, stored and returned as UTC.

    PostgreSQL keeps the offset (``timestamptz``); SQLite stores text and
    drops it. Normalising to UTC before binding makes both store the same
    instant and keeps SQLite's text comparisons in time order, and `as_utc`
    on the way out means callers always get an aware datetime back.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return as_utc(value).astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return as_utc(value).astimezone(UTC)
