"""One FastAPI app per test process, handed each test's platform.

FastAPI builds an included router's routes the first time a request
reaches it in an app (tenths of a second per router); with a new app per
test, every test paid that again. The app holds nothing of a platform but
``app.state.platform`` (every dependency and handler reads it from there),
so tests share the app and swap the platform. Servers that tests start
for real (`qplane up`, the CLI harness) still build their own.
"""

from __future__ import annotations

from fastapi import FastAPI

from qplane.api.app import create_app
from qplane.bootstrap import Platform

_apps: dict[int, FastAPI] = {}


def app_for(platform: Platform) -> FastAPI:
    """The process's app for *platform*'s payload limit (the only setting the app keeps)."""
    limit = platform.settings.max_payload_bytes
    app = _apps.get(limit)
    if app is None:
        app = _apps[limit] = create_app(platform, run_sweeper=False)
    app.state.platform = platform
    app.dependency_overrides.clear()
    return app
