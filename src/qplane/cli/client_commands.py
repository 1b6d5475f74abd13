"""Commands that use a running control plane through the SDK: sessions, tenancy, audit, workers.

Job commands live in `cli.job_commands`; `register` adds both. Every command
reads its session through `cli.session`, and reports any failure as one line
on stderr with a non-zero exit (`one_line_errors`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from qplane.cli import break_glass_commands, credentials, job_commands, login_flows, render
from qplane.cli.errors import fail, one_line_errors
from qplane.cli.server_commands import audit_app, worker_app
from qplane.cli.session import (
    CaFileOption,
    UrlOption,
    console,
    credentials_file,
    open_client,
    tenant_of,
)
from qplane.domain.audit import Outcome
from qplane.sdk.client import QplaneClient

tenant_app = typer.Typer(help="Tenants (platform operators).", no_args_is_help=True)
project_app = typer.Typer(help="Projects inside a tenant.", no_args_is_help=True)
user_app = typer.Typer(help="A tenant's users (tenant admins, operators).", no_args_is_help=True)

TenantOption = Annotated[
    str | None,
    typer.Option("--tenant", help="Tenant id (or name, for operators); default: your own."),
]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from one line of stdin.")
]


def read_password(from_stdin: bool, *, confirm: bool = False) -> str:
    """The password from stdin's first line (scripts) or a hidden prompt; never echoed."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=confirm)
    if not password:
        raise ValueError("the password is empty")
    return password


def read_public_jwk(path: Path) -> str:
    """The JWK in *path*, refused if it holds a private key: that must never leave the worker."""
    text = path.read_text(encoding="utf-8").strip()
    try:
        jwk = json.loads(text)
    except ValueError:
        raise ValueError(f"{path} is not a JWK (JSON); use `qplane worker keygen` output") from None
    if not isinstance(jwk, dict):
        raise ValueError(f"{path} is not a JWK object")
    if "d" in jwk:
        raise ValueError(f"{path} holds a PRIVATE key; register only the public JWK")
    return text


@one_line_errors
def login(
    url: Annotated[str, typer.Option("--url", envvar="QPLANE_URL", help="Control-plane URL.")],
    email: Annotated[
        str | None,
        typer.Option("--email", help="Log in with this account's password (else: device)."),
    ] = None,
    password_stdin: PasswordStdin = False,
    device: Annotated[
        bool, typer.Option("--device", help="Approve this login in a browser or another device.")
    ] = False,
    sso: Annotated[
        str | None,
        typer.Option("--sso", metavar="TENANT", help="Sign in with a tenant's SSO in a browser."),
    ] = None,
    provider: Annotated[
        str | None,
        typer.Option("--provider", help="With --sso: the IdP, if the tenant has several."),
    ] = None,
    insecure_http: Annotated[
        bool, typer.Option("--insecure-http", help="Allow plain http to a non-loopback host.")
    ] = False,
    ca_file: CaFileOption = None,
) -> None:
    """Log in and store the session (0600) for later commands; prints who you are.

    Without --email (or with --device) this uses the device authorization grant:
    open the printed URL in a browser, sign in and approve the code; no password is
    typed here. --sso TENANT does the same, the URL going straight to the tenant's
    single sign-on. With --email, an MFA account is asked for its code
    (--password-stdin: next line).
    """
    url = credentials.check_login_url(url, allow_insecure_http=insecure_http)
    ca = credentials.check_ca_file(ca_file) if ca_file is not None else None
    if sso is not None and (email is not None or password_stdin):
        raise ValueError("--sso signs in in a browser: drop --email and --password-stdin")
    if provider is not None and sso is None:
        raise ValueError("--provider goes with --sso TENANT")
    if device or email is None:
        if password_stdin:
            raise ValueError("--password-stdin needs --email (device login uses no password)")
        shown = (
            login_flows.show_device_code
            if sso is None
            else login_flows.sso_device_code(sso, provider)
        )
        with QplaneClient(url, ca_file=ca) as client:
            body = login_flows.device_login(client, shown)
            me = client.whoami()
    else:
        password = read_password(password_stdin)
        with QplaneClient(url, ca_file=ca) as client:
            body = login_flows.password_login(
                client, email, password, lambda: login_flows.read_code(password_stdin)
            )
            me = client.whoami()
    login_flows.store_session(url, body, ca)
    who = str(email or me.get("id"))
    console().print(Text.assemble("logged in to ", url, " as ", (who, "bold")))
    console().print(_identity(me))


@one_line_errors
def logout() -> None:
    """Forget the stored session. The token itself stays valid until it expires."""
    if credentials.remove(credentials_file()):
        console().print("logged out: stored credentials removed")
    else:
        console().print("not logged in")


@one_line_errors
def whoami(url: UrlOption = None) -> None:
    """Show the principal the stored session acts as."""
    with open_client(url) as client:
        me = client.whoami()
        console().print(render.key_values([("url", client.base_url)]))
    console().print(_identity(me))


@tenant_app.command("create")
@one_line_errors
def tenant_create(
    name: str,
    max_running_jobs: Annotated[
        int, typer.Option(min=1, help="Jobs this tenant may run at once.")
    ] = 4,
    timezone: Annotated[
        str, typer.Option("--timezone", help="IANA time zone for time-based policies.")
    ] = "UTC",
    region: Annotated[
        str, typer.Option("--region", help="Where the tenant's data is homed, e.g. eu-west.")
    ] = "",
    url: UrlOption = None,
) -> None:
    """Create a tenant (operator)."""
    with open_client(url) as client:
        tenant = client.create_tenant(name, max_running_jobs, timezone=timezone, region=region)
    console().print(render.literal(f"tenant {tenant['id']} created ({tenant['name']})"))


@tenant_app.command("update")
@one_line_errors
def tenant_update(
    tenant: str,
    timezone: Annotated[
        str | None, typer.Option("--timezone", help="IANA time zone.", show_default=False)
    ] = None,
    region: Annotated[
        str | None, typer.Option("--region", help="Data region.", show_default=False)
    ] = None,
    url: UrlOption = None,
) -> None:
    """Change a tenant's time zone or data region (operator)."""
    with open_client(url) as client:
        updated = client.update_tenant(tenant, timezone=timezone, region=region)
    console().print(
        render.literal(
            f"tenant {updated['id']}: timezone {updated['timezone']}, "
            f"region {updated['region'] or '-'}"
        )
    )


@tenant_app.command("list")
@one_line_errors
def tenant_list(url: UrlOption = None) -> None:
    """List every tenant (operator)."""
    with open_client(url) as client:
        console().print(render.tenants_table(client.tenants()))


@project_app.command("create")
@one_line_errors
def project_create(name: str, tenant: TenantOption = None, url: UrlOption = None) -> None:
    """Create a project in a tenant (tenant admin, or operator with --tenant)."""
    with open_client(url) as client:
        project = client.create_project(tenant_of(client, tenant), name)
    console().print(render.literal(f"project {project['id']} created ({project['name']})"))


@project_app.command("list")
@one_line_errors
def project_list(tenant: TenantOption = None, url: UrlOption = None) -> None:
    """List a tenant's projects."""
    with open_client(url) as client:
        console().print(render.projects_table(client.projects(tenant_of(client, tenant))))


@project_app.command("members")
@one_line_errors
def project_members(project: str, tenant: TenantOption = None, url: UrlOption = None) -> None:
    """List who belongs to a project and what granted it (tenant admin)."""
    with open_client(url) as client:
        members = client.project_members(tenant_of(client, tenant), project)
    for member in members:
        console().print(render.literal(f"{member['principal_id']}  {member['source']}"))


@project_app.command("add-member")
@one_line_errors
def project_add_member(
    project: str, principal: str, tenant: TenantOption = None, url: UrlOption = None
) -> None:
    """Let a user or service principal of the tenant work in a project (tenant admin)."""
    with open_client(url) as client:
        client.add_project_member(tenant_of(client, tenant), project, principal)
    console().print(render.literal(f"{principal} is a member of {project}"))


@project_app.command("remove-member")
@one_line_errors
def project_remove_member(
    project: str, principal: str, tenant: TenantOption = None, url: UrlOption = None
) -> None:
    """Take a project away from a principal, whatever granted it (tenant admin)."""
    with open_client(url) as client:
        client.remove_project_member(tenant_of(client, tenant), project, principal)
    console().print(render.literal(f"{principal} is no longer a member of {project}"))


@user_app.command("create")
@one_line_errors
def user_create(
    email: str,
    role: Annotated[
        list[str],
        typer.Option("--role", help="tenant_admin, member, viewer or auditor (repeatable)."),
    ],
    project: Annotated[
        list[str] | None,
        typer.Option("--project", help="Project id the user may work in (repeatable)."),
    ] = None,
    tenant: TenantOption = None,
    password_stdin: PasswordStdin = False,
    url: UrlOption = None,
) -> None:
    """Create a user in a tenant; the password is prompted twice unless read from stdin."""
    password = read_password(password_stdin, confirm=True)
    with open_client(url) as client:
        user = client.create_user(tenant_of(client, tenant), email, password, role, project)
    console().print(
        render.literal(
            f"user {user['id']} created ({user['email']}, roles: {', '.join(user['roles'])})"
        )
    )


def _only(flag: str, what: str) -> Any:
    """An optional filter option of `audit entries`."""
    return typer.Option(flag, help=f"Only entries {what}.", show_default=False)


@audit_app.command("entries")
@one_line_errors
def audit_entries(
    action: Annotated[str | None, _only("--action", "of this action (job.submitted …)")] = None,
    outcome: Annotated[Outcome | None, _only("--outcome", "with this outcome")] = None,
    actor: Annotated[str | None, _only("--actor", "by this user or principal id")] = None,
    workload: Annotated[str | None, _only("--workload", "by this workload (service) id")] = None,
    job: Annotated[str | None, _only("--job", "about this job")] = None,
    backend: Annotated[str | None, _only("--backend", "about this backend")] = None,
    decision: Annotated[str | None, _only("--decision", "of this decision (allow, deny)")] = None,
    since: Annotated[str | None, _only("--since", "at or after this RFC 3339 time")] = None,
    until: Annotated[str | None, _only("--until", "before this RFC 3339 time")] = None,
    cursor: Annotated[
        str | None, typer.Option(help="Continue after the page that printed it.")
    ] = None,
    platform: Annotated[
        bool, typer.Option("--platform", help="The platform's own log (operators).")
    ] = False,
    tenant: Annotated[
        str | None,
        typer.Option("--tenant", help="This tenant's log: yours, or with --elevation (operators)."),
    ] = None,
    elevation: Annotated[
        str | None,
        typer.Option("--elevation", help="Your break-glass elevation (elv_…) for --tenant."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=200, help="At most this many entries.")] = 50,
    url: UrlOption = None,
) -> None:
    """Search an audit log: your tenant's (tenant admin, auditor), or the platform's or a
    tenant's under break-glass (operators)."""
    filters = {
        "limit": limit,
        "action": action,
        "outcome": None if outcome is None else outcome.value,
        "actor_id": actor,
        "workload_id": workload,
        "job_id": job,
        "backend": backend,
        "decision": decision,
        "since": since,
        "until": until,
        "cursor": cursor,
    }
    with open_client(url) as client:
        page = break_glass_commands.audit_page(
            client, filters, platform=platform, tenant=tenant, elevation=elevation
        )
    console().print(render.audit_table(page["items"]))
    if page.get("next_cursor"):
        console().print(
            Text(f"more entries: --cursor {page['next_cursor']}", style="dim"), soft_wrap=True
        )


@audit_app.command("verify-remote")
@one_line_errors
def audit_verify_remote(url: UrlOption = None) -> None:
    """Have the server verify your tenant's audit log (tenant admin)."""
    with open_client(url) as client:
        report = client.audit_verify()
    if not report["ok"]:
        where = (
            f"entry {report['first_bad_index']}"
            if report["first_bad_index"] is not None
            else f"checkpoint of size {report['bad_checkpoint']}"
        )
        raise fail(f"audit log {report['log']} is broken at {where}: {report['problem']}")
    console().print(
        render.literal(
            f"audit log {report['log']} intact ({report['entries']} entries, "
            f"{report['checkpoints']} signed checkpoints)"
        )
    )


@worker_app.command("register")
@one_line_errors
def worker_register(
    name: str,
    public_jwk_file: Annotated[
        Path, typer.Option("--public-jwk-file", help="The JWK printed by `qplane worker keygen`.")
    ],
    backend: Annotated[list[str], typer.Option("--backend", help="A backend it serves.")],
    region: Annotated[
        str | None,
        typer.Option(help="The region it runs in (default: its backends' one region)."),
    ] = None,
    url: UrlOption = None,
) -> None:
    """Register a worker's public key so it can lease jobs (operator).

    A worker runs in one region and serves only backends there.
    """
    jwk = read_public_jwk(public_jwk_file)
    with open_client(url) as client:
        worker = client.register_worker(name, jwk, backend, region=region)
    where = worker.get("region") or "every region"
    console().print(render.literal(f"worker {worker['id']} registered ({worker['name']}, {where})"))
    console().print(
        f"run it with: qplane worker --worker-id {worker['id']} --key-file KEY --url URL"
    )


def register(app: typer.Typer) -> None:
    app.command("login")(login)
    app.command("logout")(logout)
    app.command("whoami")(whoami)
    app.add_typer(tenant_app, name="tenant")
    app.add_typer(project_app, name="project")
    app.add_typer(user_app, name="user")
    job_commands.register(app)
    login_flows.register(app)


def _identity(me: dict[str, object]) -> Table:
    roles = me.get("roles") or []
    return render.key_values(
        [
            ("principal", str(me.get("id"))),
            ("kind", str(me.get("kind"))),
            ("tenant", str(me.get("tenant_id") or "- (platform operator)")),
            ("roles", ", ".join(str(r) for r in roles) if isinstance(roles, list) else "-"),
        ]
    )
