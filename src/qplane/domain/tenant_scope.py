"""Which tenant the current piece of work is confined to.

The API binds an authenticated tenant principal's request to its tenant; the
store passes that binding to PostgreSQL with every transaction, where
row-level security hides every other tenant's rows. So a repository query that
forgot its ``tenant_id`` filter still cannot read or write another tenant's
data: the application's own checks come first, the database is the second
line.

Work that is not bound (operators, workers, the scheduler, the sweeper, log-in
itself) runs unconfined, because it legitimately spans tenants.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass
class _Binding:
    """Mutable on purpose: a request's threads share one binding, filled in once authenticated."""

    tenant_id: str | None = None


_binding: ContextVar[_Binding | None] = ContextVar("qplane_tenant_scope", default=None)


@contextmanager
def request_scope() -> Iterator[None]:
    """Open an unbound scope (one per request) that `bind` can later confine."""
    token = _binding.set(_Binding())
    try:
        yield
    finally:
        _binding.reset(token)


@contextmanager
def confined_to(tenant_id: str) -> Iterator[None]:
    """Run the block confined to *tenant_id* (tenant work outside a request, and tests)."""
    token = _binding.set(_Binding(tenant_id))
    try:
        yield
    finally:
        _binding.reset(token)


@contextmanager
def unconfined() -> Iterator[None]:
    """Run the block for the platform inside a tenant's request, seeing every tenant's rows.

    Only for reads whose answer the service itself reduces to what the
    tenant may know: a shared device's calendar, where other tenants'
    reservations are shown as anonymous busy time. Keep such blocks small.
    """
    token = _binding.set(None)
    try:
        yield
    finally:
        _binding.reset(token)


def bind(tenant_id: str) -> None:
    """Confine the open scope to *tenant_id*; without an open scope there is nothing to bind.

    A scope never moves from one tenant to another: that would mean one
    request acting for two tenants, which is a bug worth stopping loudly.
    """
    binding = _binding.get()
    if binding is None:
        return
    if binding.tenant_id is not None and binding.tenant_id != tenant_id:
        raise RuntimeError("a request cannot be confined to two tenants")
    binding.tenant_id = tenant_id


def current() -> str | None:
    """The tenant the current work is confined to; None when it is unconfined."""
    binding = _binding.get()
    return None if binding is None else binding.tenant_id
