"""``qplane policy``: a tenant's Cedar policies as code, from a directory to the server.

* ``test DIR`` runs the directory's cases locally with the policy engine (no
  server; ``--remote`` asks the server, which also checks the tenant's
  directory of projects, groups and users); exit code 1 when a case fails.
* ``push DIR --reason …`` records a new version; the server runs the cases
  itself and activates the version only if they pass (and, when the tenant
  requires it, once another admin approves).
* ``versions``, ``show N``, ``approve N``, ``activate N`` / ``rollback N``
  and ``require-approval on|off`` manage the versions.

Changes are privileged: the CLI asks for a second factor when the server
challenges (RFC 9470).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.table import Table

from qplane.cli import render
from qplane.cli.errors import fail, one_line_errors
from qplane.cli.policy_files import PolicyDirectory, read_policy_directory
from qplane.cli.session import UrlOption, console, open_client, tenant_of
from qplane.domain.errors import ValidationFailed
from qplane.policy.case_runner import PolicyTestReport
from qplane.policy.case_suite import check_offline, load_case_suite
from qplane.policy.engine import PolicyEngine
from qplane.sdk.client import JSON
from qplane.sdk.errors import QplaneAPIError

policy_app = typer.Typer(help="Tenant policies (Cedar): test, push, approve, roll back.")

DirArgument = Annotated[
    Path, typer.Argument(help="Directory with *.cedar policies and *.yaml test cases.")
]
VersionArgument = Annotated[int, typer.Argument(help="Version number.", min=1)]


class Switch(StrEnum):
    ON = "on"
    OFF = "off"


def register(app: typer.Typer) -> None:
    policy_app.command("test")(run_tests)
    policy_app.command("push")(push)
    policy_app.command("versions")(versions)
    policy_app.command("show")(show)
    policy_app.command("approve")(approve)
    policy_app.command("activate")(activate)
    policy_app.command("rollback")(rollback)
    policy_app.command("require-approval")(require_approval)
    policy_app.command("explain")(explain)
    app.add_typer(policy_app, name="policy")


@one_line_errors
def run_tests(
    directory: DirArgument,
    remote: Annotated[
        bool, typer.Option("--remote", help="Run on the server instead of locally.")
    ] = False,
    url: UrlOption = None,
) -> None:
    """Run the directory's test cases against the baseline and its policies."""
    bundle = read_policy_directory(directory)
    with _located(bundle):
        if remote:
            with open_client(url) as client:
                body = client.test_policies(tenant_of(client, None), bundle.policies, bundle.cases)
            passed, summary = bool(body["passed"]), str(body["summary"])
        else:
            report = _run_locally(bundle)
            passed, summary = report.passed, report.summary()
    console().print(render.literal(summary), soft_wrap=True)
    if not passed:
        raise fail("policy tests failed (see above)", 1)


@one_line_errors
def push(
    directory: DirArgument,
    reason: Annotated[str, typer.Option("--reason", help="Why: recorded and audited.")],
    url: UrlOption = None,
) -> None:
    """Push the directory as a new version; it activates only if its cases pass on the server."""
    bundle = read_policy_directory(directory)
    with _located(bundle), open_client(url) as client:
        version = client.push_policies(
            tenant_of(client, None), bundle.policies, bundle.cases, reason
        )
    number, status = version["version"], version["status"]
    if status == "tests_failed":
        console().print(render.literal(version["test_report"]), soft_wrap=True)
        raise fail(f"version {number} failed its policy tests; it is kept but not active", 1)
    tests = version["tests"]
    passed = f"{tests['total'] - tests['failed']}/{tests['total']} cases passed"
    if status == "pending_approval":
        console().print(
            f"version {number} pushed ({passed}); waiting for another tenant admin: "
            f"qplane policy approve {number}"
        )
    else:
        console().print(f"version {number} pushed and active ({passed})")


@one_line_errors
def explain(
    as_: Annotated[
        str, typer.Option("--as", help="The principal: a user's email or a principal id.")
    ],
    action: Annotated[str, typer.Option("--action", help="e.g. job.submit, artifact.read.")],
    resource: Annotated[
        str,
        typer.Option("--resource", help="tenant, project:ID, job:ID or artifact:JOB_ID:KIND."),
    ],
    no_mfa: Annotated[
        bool, typer.Option("--no-mfa", help="Suppose the principal used no second factor.")
    ] = False,
    at: Annotated[
        str | None,
        typer.Option("--at", help="Suppose this time (ISO 8601), e.g. 2026-11-28T20:00:00Z."),
    ] = None,
    url: UrlOption = None,
) -> None:
    """What the live policies would decide, and which policies decide it (no job runs)."""
    with open_client(url) as client:
        tenant = tenant_of(client, None)
        answer = client.explain_policy(tenant, as_, action, resource, mfa=not no_mfa, at=at)
    verdict = "ALLOW" if answer["allowed"] else "DENY"
    console().print(
        render.literal(f"{verdict}: {action} on {resource} by {as_}"),
        render.literal(f"determined by: {', '.join(answer['policy_ids'])}"),
        sep="\n",
    )
    for policy in answer["policies"]:
        console().print(render.literal(f"\n-- {policy['id']} ({policy['origin']})"))
        console().print(render.literal(policy["text"]))


@one_line_errors
def versions(url: UrlOption = None) -> None:
    """Your tenant's policy versions, newest first."""
    with open_client(url) as client:
        tenant = tenant_of(client, None)
        found = client.policy_versions(tenant)
        require = client.policy_settings(tenant)["require_approval"]
    table = Table("version", "status", "tests", "author", "created", "reason")
    for v in found:
        tests = f"{v['tests']['total'] - v['tests']['failed']}/{v['tests']['total']}"
        created = render.format_time(v["created_at"], millis=False)
        cells = (v["version"], v["status"], tests, v["author_id"], created, v["reason"])
        table.add_row(*(render.literal(cell) for cell in cells))
    console().print(table)
    console().print(f"second admin approval: {_required(bool(require))}")


@one_line_errors
def show(
    version: VersionArgument,
    policies: Annotated[
        bool, typer.Option("--policies", help="Print only the policy text (for a file).")
    ] = False,
    url: UrlOption = None,
) -> None:
    """One version: who, why, its test report and its diff against the version it replaced."""
    with open_client(url) as client:
        found = client.policy_version(tenant_of(client, None), version)
    if policies:
        typer.echo(found["policies"], nl=False)
        return
    console().print(render.key_values(_facts(found)))
    console().print(render.literal(found["test_report"]), soft_wrap=True)
    console().print(render.literal(found["diff"] or "(no change)"), soft_wrap=True)


@one_line_errors
def approve(version: VersionArgument, url: UrlOption = None) -> None:
    """Approve a version another tenant admin pushed; it becomes active."""
    _change(url, version, "approve")


@one_line_errors
def activate(version: VersionArgument, url: UrlOption = None) -> None:
    """Make a version active again (its cases run again first)."""
    _change(url, version, "activate")


@one_line_errors
def rollback(version: VersionArgument, url: UrlOption = None) -> None:
    """Roll back to an earlier version: the same as activate."""
    _change(url, version, "activate")


@one_line_errors
def require_approval(
    setting: Annotated[Switch, typer.Argument(help="on or off.")],
    url: UrlOption = None,
) -> None:
    """Require (on) a second tenant admin's approval before a pushed version activates."""
    with open_client(url) as client:
        client.set_policy_approval(tenant_of(client, None), setting is Switch.ON)
    console().print(f"second admin approval: {_required(setting is Switch.ON)}")


def _change(url: str | None, version: int, how: Literal["approve", "activate"]) -> None:
    with open_client(url) as client:
        tenant = tenant_of(client, None)
        if how == "approve":
            client.approve_policy_version(tenant, version)
        else:
            client.activate_policy_version(tenant, version)
    console().print(f"version {version} is active")


def _run_locally(bundle: PolicyDirectory) -> PolicyTestReport:
    return check_offline(PolicyEngine(), bundle.policies, load_case_suite(bundle.cases))


@contextmanager
def _located(bundle: PolicyDirectory) -> Iterator[None]:
    """Say which file and line a refusal is about: the engine only knows the joined text."""
    try:
        yield
    except ValidationFailed as error:
        line = error.extensions.get("line")
        raise fail(error.detail + _at(bundle, line), 2) from None
    except QplaneAPIError as error:
        if error.status != 422:
            raise
        detail = f"{error.title}: {error.detail}{_at(bundle, error.problem.get('line'))}"
        raise fail(detail, 2) from None


def _required(flag: bool) -> str:
    return "required" if flag else "not required"


def _at(bundle: PolicyDirectory, line: Any) -> str:
    return f" (at {bundle.where(line)})" if type(line) is int else ""


def _facts(version: JSON) -> list[tuple[str, object]]:
    tests = version["tests"]
    return [
        ("version", version["version"]),
        ("status", version["status"]),
        ("author", version["author_id"]),
        ("reason", version["reason"]),
        ("created", render.format_time(version["created_at"], millis=False)),
        ("digest", version["digest"]),
        ("tests", f"{tests['total'] - tests['failed']}/{tests['total']} passed"),
        ("approved by", version["approved_by"] or "-"),
    ]
