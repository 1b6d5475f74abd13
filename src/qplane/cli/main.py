"""The `qplane` command: one typer app assembled from its command groups."""

from __future__ import annotations

import typer

from qplane.cli import (
    archive_commands,
    audit_commands,
    break_glass_commands,
    client_commands,
    demo,
    key_commands,
    policy_commands,
    scheduling_commands,
    server_commands,
    session_commands,
    sso_commands,
    workload_commands,
)
from qplane.cli.errors import printable

app = typer.Typer(
    name="qplane",
    help="qplane: a secure multi-tenant control plane for quantum computing.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
server_commands.register(app)
client_commands.register(app)
demo.register(app)
session_commands.register(app)
sso_commands.register(app)
workload_commands.register(app)
policy_commands.register(app)
key_commands.register(app)
archive_commands.register(app)
audit_commands.register(server_commands.audit_app)
break_glass_commands.register(app)
scheduling_commands.register(app)


def main() -> None:
    """Run the CLI; a usage mistake is reported in one line, like every other error."""
    try:
        # Outside standalone mode click hands back an Exit's code instead of exiting.
        code = app(standalone_mode=False)
        if isinstance(code, int) and code != 0:
            raise SystemExit(code)
    except typer.Abort:
        raise SystemExit(130) from None
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except typer.TyperException as exc:  # usage errors: missing option, unknown command
        formatter = getattr(exc, "format_message", None)
        message = formatter() if callable(formatter) else str(exc)
        typer.secho(f"error: {printable(str(message))}", fg=typer.colors.RED, err=True)
        raise SystemExit(int(getattr(exc, "exit_code", 2))) from None
