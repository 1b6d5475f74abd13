"""The `qplane` command: one typer app assembled from its command groups."""

from __future__ import annotations

import typer

from qplane.cli import client_commands, demo, server_commands

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


def main() -> None:
    app()
