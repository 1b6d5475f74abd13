"""``qplane sso``: a tenant's OpenID Connect single sign-on, from the command line.

``add``/``list``/``remove`` manage the tenant's identity providers (tenant
admins; a recent MFA is required for changes). The client secret is read
from stdin or a hidden prompt — never from an argument, where ``ps`` and the
shell history would keep it — and is never printed back.

``login TENANT`` is ``qplane login --sso TENANT``: the device authorization
grant, with a URL that takes the browser straight to the tenant's single
sign-on. The person signs in there and approves the code; the CLI receives
the session by polling and stores it like any session (0600). No token is
ever shown in the browser or pasted into the terminal.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from qplane.cli import client_commands
from qplane.cli.errors import fail, one_line_errors
from qplane.cli.session import UrlOption, console, open_client, tenant_of

sso_app = typer.Typer(help="Single sign-on through your OpenID provider.", no_args_is_help=True)

TenantOption = Annotated[str | None, typer.Option("--tenant", help="Tenant id; default: your own.")]


def register(app: typer.Typer) -> None:
    app.add_typer(sso_app, name="sso")


def _read_secret(from_stdin: bool) -> str:
    if from_stdin:
        secret = sys.stdin.readline().rstrip("\n")
    else:
        secret = typer.prompt("client secret", hide_input=True)
    if not secret:
        raise fail("an empty client secret is not accepted", 2)
    return secret


def _mapping(text: str, target: str) -> dict[str, object]:
    """``CLAIM=VALUE:TARGET`` (e.g. ``groups=qplane-admins:tenant_admin,member``)."""
    claim_value, sep, to = text.rpartition(":")
    claim, eq, value = claim_value.partition("=")
    if not (sep and eq and claim and value and to):
        raise fail(f"mapping {text!r} is not CLAIM=VALUE:{target.upper()}", 2)
    if target == "roles":
        return {"claim": claim, "value": value, "roles": to.split(",")}
    return {"claim": claim, "value": value, "project_id": to}


@sso_app.command("add")
@one_line_errors
def add(
    name: Annotated[str, typer.Argument(help="A short name for the provider, e.g. okta.")],
    issuer: Annotated[str, typer.Option("--issuer", help="The IdP's issuer URL (https).")],
    client_id: Annotated[str, typer.Option("--client-id", help="qplane's client id at the IdP.")],
    domain: Annotated[
        list[str], typer.Option("--domain", help="An allowed email domain (repeatable).")
    ],
    role: Annotated[
        list[str] | None,
        typer.Option("--role", help="CLAIM=VALUE:ROLE[,ROLE] (repeatable)."),
    ] = None,
    project: Annotated[
        list[str] | None,
        typer.Option("--project", help="CLAIM=VALUE:PROJECT_ID (repeatable)."),
    ] = None,
    secret_stdin: Annotated[
        bool, typer.Option("--client-secret-stdin", help="Read the client secret from stdin.")
    ] = False,
    tenant: TenantOption = None,
    url: UrlOption = None,
) -> None:
    """Register the tenant's OpenID provider (the client secret is stored encrypted)."""
    settings: dict[str, object] = {
        "name": name,
        "issuer": issuer,
        "client_id": client_id,
        "client_secret": _read_secret(secret_stdin),
        "allowed_domains": domain,
        "role_mappings": [_mapping(m, "roles") for m in role or []],
        "project_mappings": [_mapping(m, "project") for m in project or []],
    }
    with open_client(url) as client:
        created = client.add_identity_provider(tenant_of(client, tenant), settings)
    console().print(
        Text.assemble("registered ", (str(created["name"]), "bold"), " ", str(created["id"]))
    )


@sso_app.command("list")
@one_line_errors
def list_providers(tenant: TenantOption = None, url: UrlOption = None) -> None:
    """The tenant's identity providers (secrets are never shown)."""
    with open_client(url) as client:
        providers = client.identity_providers(tenant_of(client, tenant))
    table = Table("id", "name", "issuer", "client id", "domains", "role mappings")
    for p in providers:
        roles = [f"{m['claim']}={m['value']}:{','.join(m['roles'])}" for m in p["role_mappings"]]
        table.add_row(
            Text(str(p["id"])),
            Text(str(p["name"])),
            Text(str(p["issuer"])),
            Text(str(p["client_id"])),
            Text(", ".join(p["allowed_domains"])),
            Text("; ".join(roles)),
        )
    console().print(table)


@sso_app.command("remove")
@one_line_errors
def remove(
    provider_id: Annotated[str, typer.Argument(help="The provider's id (idp_…).")],
    tenant: TenantOption = None,
    url: UrlOption = None,
) -> None:
    """Remove an identity provider: its users can no longer sign in through it."""
    with open_client(url) as client:
        client.remove_identity_provider(tenant_of(client, tenant), provider_id)
    console().print(Text.assemble("removed ", provider_id))


@sso_app.command("login")
@one_line_errors
def login(
    tenant_name: Annotated[str, typer.Argument(help="Your tenant's name.")],
    url: Annotated[str, typer.Option("--url", envvar="QPLANE_URL", help="Control-plane URL.")],
    provider: Annotated[
        str | None, typer.Option("--provider", help="Provider name, if the tenant has several.")
    ] = None,
    insecure_http: Annotated[
        bool, typer.Option("--insecure-http", help="Allow plain http (loopback only).")
    ] = False,
) -> None:
    """Sign in through your IdP in a browser; the same as `qplane login --sso TENANT`.

    Prints a URL that goes straight to the tenant's single sign-on; after you
    approve the code there, this command receives the session by itself.
    """
    client_commands.login(url=url, sso=tenant_name, provider=provider, insecure_http=insecure_http)
