"""A second API server on the same database, for checks that must hold across servers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi.testclient import TestClient

from qplane.api.app import create_app
from qplane.bootstrap import Platform, build_platform


@contextmanager
def another_server(platform: Platform, client_host: str = "testclient") -> Iterator[TestClient]:
    """A client of a second platform built from *platform*'s settings: same database and keys,
    nothing else shared (in particular no memory)."""
    second = build_platform(platform.settings, upgrade=False)
    try:
        app = create_app(second, run_sweeper=False)
        with TestClient(app, client=(client_host, 50000)) as client:
            yield client
    finally:
        second.close()
