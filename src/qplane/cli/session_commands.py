"""Operator commands on the server's own data: signing-key rotation and revocation.

Like ``qplane audit verify`` they act on the data directory and database
directly (no token needed: whoever can run them there already holds the
keys), and every revocation is audited as done by the operator console.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from qplane.cli.errors import fail, one_line_errors
from qplane.cli.key_commands import keys_app
from qplane.cli.render import literal
from qplane.cli.session import console
from qplane.config import Settings
from qplane.domain.sessions import RevocationScope
from qplane.identity.revocation import Revocation, RevocationService
from qplane.identity.signing import SigningKeys
from qplane.identity.tokens import LEEWAY_S
from qplane.store.database import Database

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Where qplane keeps its data (QPLANE_DATA_DIR).")
]


def _settings(data_dir: Path | None) -> Settings:
    settings = Settings()
    return settings.model_copy(update={"data_dir": data_dir}) if data_dir else settings


def _longest_token_s(settings: Settings) -> int:
    return max(settings.token_ttl_s, settings.worker_token_ttl_s) + LEEWAY_S


@keys_app.command("rotate-signing")
@one_line_errors
def rotate_signing(
    data_dir: DataDir = None,
    publish_ahead: Annotated[
        int | None,
        typer.Option(
            "--publish-ahead",
            help="Seconds the new key is published before it signs "
            "(default QPLANE_SIGNING_KEY_PUBLISH_AHEAD_S).",
            min=0,
        ),
    ] = None,
) -> None:
    """Stage a new signing key (published now, signing later) and prune expired old keys."""
    settings = _settings(data_dir)
    keys = SigningKeys.load_or_create(settings.key_dir)
    ahead = settings.signing_key_publish_ahead_s if publish_ahead is None else publish_ahead
    new = keys.rotate(ahead)
    console().print(literal(f"new signing key {new.kid}: published now, signing in {ahead} s"))
    for kid in keys.prune(_longest_token_s(settings)):
        console().print(literal(f"pruned signing key {kid}: every token it signed has expired"))


def revoke(
    principal: Annotated[
        str | None, typer.Option("--principal", help="Revoke every token of this principal.")
    ] = None,
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="Revoke every token of this tenant.")
    ] = None,
    token_jti: Annotated[
        str | None, typer.Option("--token-jti", help="Revoke the one token with this jti.")
    ] = None,
    worker: Annotated[
        str | None,
        typer.Option("--worker", help="Cut off this worker: its token and its key stop working."),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Revoke tokens at once (incident response); they fail on their next request."""
    chosen = [value for value in (principal, tenant, token_jti, worker) if value]
    if len(chosen) != 1:
        raise fail("give exactly one of --principal, --tenant, --token-jti or --worker", 2)
    settings = _settings(data_dir)
    database = Database(settings.effective_database_url)
    try:
        service = RevocationService(database, deny_ttl_s=_longest_token_s(settings))
        if principal:
            done = service.revoke_principal(None, principal)
        elif tenant:
            done = service.revoke_tenant(None, tenant)
        elif worker:
            done = service.revoke_worker(None, worker)
        else:
            done = service.revoke_token(None, chosen[0])
    finally:
        database.dispose()
    console().print(literal(_describe(done)))


def _describe(done: Revocation) -> str:
    text = f"revoked {done.scope.value} {done.subject_id}"
    if done.scope is RevocationScope.WORKER:
        return text + ": its token fails on its next request; its job is re-queued at lease expiry"
    if done.not_before is not None:
        text += f": tokens issued before {done.not_before} are refused"
    return text + f"; {done.refresh_tokens_revoked} refresh tokens ended"


def register(app: typer.Typer) -> None:
    # `qplane keys rotate-signing` lives on `qplane keys` (registered by key_commands).
    app.command("revoke")(one_line_errors(revoke))
