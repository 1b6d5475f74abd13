"""``qplane break-glass``: an operator's time-boxed elevation into one tenant's audit log.

``qplane break-glass grant TENANT --reason …`` asks for the elevation (the
server challenges for a second factor if the session's is not recent); the
elevation id it prints goes to ``qplane audit entries --tenant TENANT
--elevation elv_…``. The tenant sees the grant and every read under it in
its own audit log, with the reason.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from qplane.cli import render
from qplane.cli.errors import one_line_errors
from qplane.cli.session import UrlOption, console, open_client, tenant_of
from qplane.sdk.client import JSON, QplaneClient

break_glass_app = typer.Typer(
    help="Break-glass: read one tenant's audit log for a while, with a reason (operators).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    break_glass_app.command("grant")(grant)
    app.add_typer(break_glass_app, name="break-glass")


@one_line_errors
def grant(
    tenant: Annotated[str, typer.Argument(help="The tenant (id, or name).")],
    reason: Annotated[
        str, typer.Option("--reason", help="Why: shown to the tenant with every read.")
    ],
    ttl: Annotated[
        int | None,
        typer.Option("--ttl", min=1, help="Seconds the elevation lasts (default 3600)."),
    ] = None,
    url: UrlOption = None,
) -> None:
    """Elevate into a tenant's audit log; needs a recent second factor."""
    with open_client(url) as client:
        elevation = client.grant_elevation(tenant_of(client, tenant), reason, ttl)
    console().print(
        render.literal(
            f"elevation {elevation['id']} into {elevation['tenant_id']} until "
            f"{elevation['expires_at']}; read with: qplane audit entries "
            f"--tenant {elevation['tenant_id']} --elevation {elevation['id']}"
        )
    )


def audit_page(
    client: QplaneClient,
    filters: dict[str, Any],
    *,
    platform: bool,
    tenant: str | None,
    elevation: str | None,
) -> JSON:
    """One page of the log the options name: the caller's own, the platform's, or a tenant's."""
    wanted = {name: value for name, value in filters.items() if value is not None}
    if platform:
        if tenant is not None or elevation is not None:
            raise ValueError("--platform reads the platform's own log: drop --tenant/--elevation")
        return client.platform_audit_entries(**wanted)
    if tenant is None:
        if elevation is not None:
            raise ValueError("--elevation needs --tenant: the tenant it was granted for")
        return client.audit_entries(**wanted)
    return client.tenant_audit_entries(tenant_of(client, tenant), elevation, **wanted)
