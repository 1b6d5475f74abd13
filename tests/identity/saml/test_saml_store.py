"""The SAML repositories on SQLite and PostgreSQL: single-use requests, replay, tenant scope."""

from __future__ import annotations

from datetime import timedelta

import pytest

from qplane.domain import ids
from qplane.domain.clock import utcnow
from qplane.domain.errors import Conflict, NotFound
from qplane.domain.saml import SamlLoginRequest
from qplane.domain.tenancy import Tenant
from qplane.store import Database


def _tenant(database: Database, name: str) -> str:
    tenant = Tenant(ids.new_id(ids.TENANT), name, 4, utcnow())
    with database.unit_of_work() as uow:
        uow.tenants.add(tenant)
        uow.commit()
    return tenant.id


def test_a_login_request_is_consumed_once_and_only_by_its_tenant(database: Database) -> None:
    acme, globex = _tenant(database, "acme"), _tenant(database, "globex")
    request = SamlLoginRequest(
        "rs", "id-1", acme, "sip_1", utcnow() + timedelta(minutes=5), "b" * 64, "s" * 64
    )
    with database.unit_of_work() as uow:
        uow.saml_requests.add(request, "h" * 64)
        uow.commit()
    with database.unit_of_work() as uow, pytest.raises(NotFound):
        uow.saml_requests.consume(globex, "h" * 64, utcnow())
    with database.unit_of_work() as uow:
        consumed = uow.saml_requests.consume(acme, "h" * 64, utcnow())
        uow.commit()
    assert consumed.request_id == "id-1"
    assert (consumed.binding_hash, consumed.browser_session) == ("b" * 64, "s" * 64)
    with database.unit_of_work() as uow, pytest.raises(NotFound):
        uow.saml_requests.consume(acme, "h" * 64, utcnow())


def test_an_expired_login_request_is_refused(database: Database) -> None:
    acme = _tenant(database, "acme")
    request = SamlLoginRequest("rs", "id-1", acme, "sip_1", utcnow() - timedelta(seconds=1), "b")
    with database.unit_of_work() as uow:
        uow.saml_requests.add(request, "e" * 64)
        uow.commit()
    with database.unit_of_work() as uow, pytest.raises(NotFound):
        uow.saml_requests.consume(acme, "e" * 64, utcnow())


def test_an_assertion_is_remembered_across_units_of_work(database: Database) -> None:
    acme = _tenant(database, "acme")
    expires = utcnow() + timedelta(minutes=5)
    with database.unit_of_work() as uow:
        uow.saml_assertions.remember(acme, "a" * 64, expires)
        uow.commit()
    with database.unit_of_work() as uow, pytest.raises(Conflict):
        uow.saml_assertions.remember(acme, "a" * 64, expires)
    with database.unit_of_work() as uow:  # gone only once it has expired
        assert uow.saml_assertions.purge_expired(utcnow()) == 0
        assert uow.saml_assertions.purge_expired(expires + timedelta(seconds=1)) == 1
        uow.commit()
