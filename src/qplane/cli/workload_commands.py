"""Workload identity from the command line: trust policies and the CI token exchange.

* ``qplane trust add|list|remove`` — a tenant admin manages which external
  OIDC tokens (a CI system's) may act in a project.
* ``qplane workload login`` — inside the pipeline: exchange the job's OIDC
  token for a short-lived project token and store it like ``qplane login``.
  With ``--dpop-key`` (or ``QPLANE_DPOP_KEY``) the token is bound to that
  key, and every later command signs a DPoP proof with it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from qplane.cli import credentials
from qplane.cli.errors import one_line_errors
from qplane.cli.session import (
    CaFileOption,
    UrlOption,
    console,
    credentials_file,
    open_client,
    project_of,
)
from qplane.sdk.client import JSON, QplaneClient
from qplane.sdk.dpop import DPoPKey

trust_app = typer.Typer(help="Trust policies: which CI/workload tokens may act in a project.")
workload_app = typer.Typer(help="Run as a workload (CI pipeline) with a federated token.")

ProjectOption = Annotated[str, typer.Option("--project", help="Project id or name.")]
DPoPKeyOption = Annotated[
    Path | None,
    typer.Option(
        "--dpop-key",
        envvar="QPLANE_DPOP_KEY",
        help="PEM file of the DPoP key to bind the token to (created 0600 if missing).",
    ),
]


def _conditions(exact: list[str], glob: list[str]) -> list[JSON]:
    """``claim=value`` options as trust-policy conditions (exact, then glob)."""
    conditions: list[JSON] = []
    for op, items in (("eq", exact), ("glob", glob)):
        for item in items:
            claim, sep, value = item.partition("=")
            if not sep or not claim or not value:
                raise ValueError(f"expected CLAIM=VALUE, got {item!r}")
            conditions.append({"claim": claim, "op": op, "value": value})
    return conditions


@one_line_errors
def trust_add(
    project: ProjectOption,
    name: Annotated[str, typer.Option("--name", help="A short name for the policy.")],
    issuer: Annotated[str, typer.Option("--issuer", help="The issuer URL (exact match).")],
    audience: Annotated[str, typer.Option("--audience", help="The aud the tokens must carry.")],
    claim: Annotated[
        list[str] | None, typer.Option("--claim", help="CLAIM=VALUE, exact match (repeat).")
    ] = None,
    claim_glob: Annotated[
        list[str] | None,
        typer.Option("--claim-glob", help="CLAIM=PATTERN, shell-style glob (repeat)."),
    ] = None,
    role: Annotated[str, typer.Option("--role", help="member or viewer.")] = "member",
    max_ttl: Annotated[int, typer.Option("--max-ttl", help="Token lifetime cap, s.")] = 600,
    require_dpop: Annotated[
        bool, typer.Option("--require-dpop", help="Only DPoP-bound tokens.")
    ] = False,
    url: UrlOption = None,
) -> None:
    """Trust an external issuer's tokens whose claims match, in one project."""
    conditions = _conditions(claim or [], claim_glob or [])
    with open_client(url) as client:
        pid = project_of(client, project)
        policy = client.create_trust_policy(
            pid,
            name,
            issuer,
            audience,
            conditions,
            [role],
            max_ttl_s=max_ttl,
            require_dpop=require_dpop,
        )
    console().print(
        f"trust policy {policy['id']} created (service principal {policy['principal_id']})"
    )


@one_line_errors
def trust_list(project: ProjectOption, url: UrlOption = None) -> None:
    """The trust policies of a project."""
    with open_client(url) as client:
        policies = client.trust_policies(project_of(client, project))
    table = Table("id", "name", "issuer", "audience", "conditions", "roles", "dpop")
    for p in policies:
        conditions = ", ".join(f"{c['claim']} {c['op']} {c['value']}" for c in p["conditions"])
        dpop = "required" if p["require_dpop"] else "-"
        roles = ",".join(p["roles"])
        table.add_row(p["id"], p["name"], p["issuer"], p["audience"], conditions, roles, dpop)
    console().print(table)


@one_line_errors
def trust_remove(
    project: ProjectOption,
    policy_id: Annotated[str, typer.Argument(help="The policy id (tp_…).")],
    url: UrlOption = None,
) -> None:
    """Delete a trust policy; tokens already issued under it stop working at once."""
    with open_client(url) as client:
        client.delete_trust_policy(project_of(client, project), policy_id)
    console().print(f"trust policy {policy_id} removed")


@one_line_errors
def workload_login(
    url: Annotated[str, typer.Option("--url", envvar="QPLANE_URL", help="Control-plane URL.")],
    project: Annotated[str, typer.Option("--project", help="Project id (prj_…).")],
    token_env: Annotated[
        str, typer.Option("--token-env", help="Environment variable holding the OIDC token.")
    ] = "QPLANE_OIDC_TOKEN",  # noqa: S107 - the name of a variable, not a secret
    dpop_key: DPoPKeyOption = None,
    ca_file: CaFileOption = None,
) -> None:
    """Exchange the pipeline's OIDC token (RFC 8693) and store the session (0600)."""
    subject_token = os.environ.get(token_env, "").strip()
    if not subject_token:
        raise ValueError(f"${token_env} holds no OIDC token")
    key = DPoPKey.load_or_create(dpop_key) if dpop_key is not None else None
    ca = credentials.check_ca_file(ca_file) if ca_file is not None else None
    with QplaneClient(url, dpop_key=key, ca_file=ca) as client:
        token = client.exchange_token(subject_token, project)
    session = credentials.Credentials(url=url, token=token, ca_file=ca)
    credentials.save(credentials_file(), session)
    bound = " (DPoP-bound)" if key is not None else ""
    console().print(f"workload token for {project} stored{bound}")


def register(app: typer.Typer) -> None:
    trust_app.command("add")(trust_add)
    trust_app.command("list")(trust_list)
    trust_app.command("remove")(trust_remove)
    workload_app.command("login")(workload_login)
    app.add_typer(trust_app, name="trust")
    app.add_typer(workload_app, name="workload")
