"""The device page's browser sessions on SQLite and PostgreSQL: expiry, sign-in, single use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from qplane.domain.browser import BrowserSession, BrowserSignIn
from qplane.store import Database

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def _session(
    id_hash: str = "i" * 64, expires_in: timedelta = timedelta(minutes=10)
) -> BrowserSession:
    return BrowserSession(id_hash, "c" * 64, "BCDFGHJK", NOW, NOW + expires_in)


def test_a_session_is_found_until_it_expires_then_purged(database: Database) -> None:
    with database.unit_of_work() as uow:
        uow.browser_sessions.add(_session())
        uow.commit()
    with database.unit_of_work() as uow:
        found = uow.browser_sessions.for_update("i" * 64, NOW)
        assert found == _session()
        assert uow.browser_sessions.for_update("i" * 64, NOW + timedelta(minutes=10)) is None
        assert uow.browser_sessions.for_update("x" * 64, NOW) is None
        assert uow.browser_sessions.purge_expired(NOW) == 0
        assert uow.browser_sessions.purge_expired(NOW + timedelta(minutes=10)) == 1
        uow.commit()


def test_sign_in_and_csrf_rotation_are_stored(database: Database) -> None:
    signed = BrowserSignIn("usr_1", "ten_1", ("pwd", "otp"), "urn:acr", 1_700_000_000, NOW)
    with database.unit_of_work() as uow:
        uow.browser_sessions.add(_session())
        uow.browser_sessions.set_csrf("i" * 64, "d" * 64)
        assert uow.browser_sessions.sign_in("i" * 64, "MNPQRSTV", signed)
        assert not uow.browser_sessions.sign_in("x" * 64, "MNPQRSTV", signed)
        uow.commit()
    with database.unit_of_work() as uow:
        found = uow.browser_sessions.for_update("i" * 64, NOW)
    assert found is not None
    assert found.csrf_hash == "d" * 64
    assert found.user_code == "MNPQRSTV"
    assert found.sign_in == signed


def test_a_session_is_deleted_exactly_once(database: Database) -> None:
    with database.unit_of_work() as uow:
        uow.browser_sessions.add(_session())
        uow.commit()
    with database.unit_of_work() as uow:
        assert uow.browser_sessions.delete("i" * 64)
        uow.commit()
    with database.unit_of_work() as uow:
        assert not uow.browser_sessions.delete("i" * 64)
        assert uow.browser_sessions.for_update("i" * 64, NOW) is None
