"""Opening an authenticated SDK client for a command, and the options every command shares.

Commands never speak HTTP themselves: they get a `QplaneClient` from here,
built from the stored credentials with the ``--url``/``QPLANE_URL`` and
``QPLANE_TOKEN`` overrides applied (see `credentials.resolve`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Final

import typer
from rich.console import Console

from qplane.cli import credentials
from qplane.domain.ids import PROJECT, TENANT, is_well_formed
from qplane.sdk.client import QplaneClient
from qplane.sdk.dpop import DPoPKey
from qplane.sdk.errors import QplaneAPIError

#: Width when stdout is not a terminal (a pipe, a file, a test): wide enough that no id is cut.
_PIPE_WIDTH: Final = 160


def console() -> Console:
    """A console on the current stdout (tables, results, progress; errors go to stderr).

    Built per call so that it follows ``sys.stdout`` as it is now. Piped
    output is not squeezed to 80 columns (unless COLUMNS says so): scripts grep it for ids.
    """
    if sys.stdout.isatty() or os.environ.get("COLUMNS"):
        return Console(highlight=False)
    return Console(highlight=False, width=_PIPE_WIDTH)


CaFileOption = Annotated[
    Path | None,
    typer.Option(
        "--ca-file",
        envvar="QPLANE_CA_FILE",
        help="Verify the server's certificate with this CA (e.g. `qplane up --tls`'s ca.pem); "
        "stored with the session.",
        show_default=False,
    ),
]
UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="QPLANE_URL",
        help="Control-plane URL (default: the one you logged in to).",
        show_default=False,
    ),
]


def credentials_file() -> Path:
    return credentials.credentials_path(os.environ)


def open_client(url: str | None) -> QplaneClient:
    """A client for the stored session (or QPLANE_TOKEN); raises `CredentialsError` if none."""
    session = credentials.resolve(credentials_file(), url, os.environ)
    client = QplaneClient(session.url, session.token, dpop_key=_dpop_key(), ca_file=session.ca_file)
    client.on_step_up = _step_up  # RFC 9470: ask for a second factor, then retry once
    return client


def _dpop_key() -> DPoPKey | None:
    """``QPLANE_DPOP_KEY``'s key: a DPoP-bound session signs a proof per request with it."""
    path = os.environ.get("QPLANE_DPOP_KEY")
    return DPoPKey.load_or_create(Path(path)) if path else None


def _step_up(client: QplaneClient, error: QplaneAPIError) -> bool:
    from qplane.cli.login_flows import prompt_step_up  # login_flows imports this module

    return prompt_step_up(client, error)


def tenant_of(client: QplaneClient, tenant: str | None) -> str:
    """The tenant id a command acts in: *tenant* (an id, or a name for operators) or the caller's.

    Raises `ValueError` when an operator (who belongs to no tenant) names none,
    or when a name matches no tenant the caller can list.
    """
    if tenant is not None and is_well_formed(tenant, TENANT):
        return tenant
    if tenant is None:
        me = client.whoami()
        if not me.get("tenant_id"):
            raise ValueError("you belong to no tenant (operator): pass --tenant ID")
        return str(me["tenant_id"])
    try:
        candidates = client.tenants()
    except QplaneAPIError as exc:
        if exc.status != 403:
            raise
        raise ValueError("only operators can name a tenant: pass its id (ten_…)") from None
    for candidate in candidates:
        if candidate["name"] == tenant:
            return str(candidate["id"])
    raise ValueError(f"no tenant named {tenant!r}")


def project_of(client: QplaneClient, project: str) -> str:
    """A project id from *project*: an id as is, else a project name in the caller's tenant."""
    if is_well_formed(project, PROJECT):
        return project
    for candidate in client.projects(tenant_of(client, None)):
        if candidate["name"] == project:
            return str(candidate["id"])
    raise ValueError(f"no project named {project!r} in your tenant")
