"""``qplane keys``: the key hierarchy — list it, rotate, rewrap, retire, shred, rotate the root.

Every change is privileged: the CLI asks for a second factor when the
server challenges (RFC 9470). ``rotate-root`` runs on the server machine
against its data directory, like ``qplane audit verify``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from qplane.broker.auditing import audit
from qplane.cli import render
from qplane.cli.errors import one_line_errors
from qplane.cli.session import UrlOption, console, open_client, tenant_of
from qplane.config import Settings
from qplane.crypto import root_backup, root_rotation
from qplane.crypto.hybrid_kem import HybridKemPrivateKey, HybridKemPublicKey
from qplane.crypto.keyfiles import read_secret_file, write_new_secret_file
from qplane.domain.ports import UnitOfWork
from qplane.sdk.client import JSON
from qplane.store import Database

keys_app = typer.Typer(
    help="Keys: tenants' key rings (list, rotate, rewrap, retire, shred), the root key "
    "and the platform's token-signing keys.",
    no_args_is_help=True,
)

TenantOption = Annotated[
    str | None, typer.Option("--tenant", help="Tenant id or name (operators); default: yours.")
]
ProjectOption = Annotated[
    str | None, typer.Option("--project", help="A project's own ring instead of the tenant's.")
]


def register(app: typer.Typer) -> None:
    keys_app.command("list")(list_rings)
    keys_app.command("create-ring")(create_ring)
    keys_app.command("rotate")(rotate)
    keys_app.command("rewrap")(rewrap)
    keys_app.command("retire")(retire)
    keys_app.command("shred")(shred)
    keys_app.command("approve-shred")(approve_shred)
    keys_app.command("rotate-root")(rotate_root)
    keys_app.command("backup-root")(backup_root)
    keys_app.command("restore-root")(restore_root)
    app.add_typer(keys_app, name="keys")


@one_line_errors
def list_rings(tenant: TenantOption = None, url: UrlOption = None) -> None:
    """The hierarchy: each ring, what it protects, its versions and their states."""
    with open_client(url) as client:
        rings = client.key_rings(tenant_of(client, tenant))
    _show(rings)


@one_line_errors
def create_ring(
    project: Annotated[str, typer.Option("--project", help="The project that gets its own keys.")],
    tenant: TenantOption = None,
    url: UrlOption = None,
) -> None:
    """Give a project a key ring of its own; its new data stops sharing the tenant's key."""
    with open_client(url) as client:
        ring = client.create_project_key_ring(tenant_of(client, tenant), project)
    _show([ring])


@one_line_errors
def rotate(
    tenant: TenantOption = None,
    project: ProjectOption = None,
    customer_module: Annotated[
        str | None, typer.Option(help="Move to your own PKCS#11 token: its module path.")
    ] = None,
    customer_token: Annotated[str | None, typer.Option(help="Your token's label.")] = None,
    customer_key: Annotated[str | None, typer.Option(help="Your key's label in it.")] = None,
    customer_pin_file: Annotated[
        str | None,
        typer.Option(help="The PIN file your operator installed for you on the server."),
    ] = None,
    url: UrlOption = None,
) -> None:
    """A new key version: new data uses it at once, existing data follows by rewrapping."""
    customer: JSON | None = None
    given = [customer_module, customer_token, customer_key, customer_pin_file]
    if any(given):
        if not all(given):
            raise ValueError(
                "a customer key needs --customer-module, --customer-token, --customer-key "
                "and --customer-pin-file"
            )
        customer = {
            "module": customer_module,
            "token_label": customer_token,
            "key_label": customer_key,
            "pin_file": customer_pin_file,
        }
    with open_client(url) as client:
        ring = client.rotate_keys(tenant_of(client, tenant), project, customer)
    _show([ring])


@one_line_errors
def rewrap(
    tenant: TenantOption = None,
    project: ProjectOption = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many.")] = 500,
    url: UrlOption = None,
) -> None:
    """Move data keys to the newest version now (payloads are never decrypted)."""
    with open_client(url) as client:
        moved = client.rewrap_keys(tenant_of(client, tenant), project, limit)
    console().print(f"{moved} data keys rewrapped")


@one_line_errors
def retire(
    below: Annotated[int, typer.Option("--below", min=1, help="Refuse versions below this.")],
    tenant: TenantOption = None,
    project: ProjectOption = None,
    url: UrlOption = None,
) -> None:
    """Set the minimum decryption version; older versions are erased (rewrap first)."""
    with open_client(url) as client:
        ring = client.retire_keys(tenant_of(client, tenant), below, project)
    _show([ring])


@one_line_errors
def shred(
    tenant: Annotated[str, typer.Option("--tenant", help="The tenant (id or name).")],
    reason: Annotated[str, typer.Option("--reason", help="Why: recorded as evidence.")],
    project: ProjectOption = None,
    url: UrlOption = None,
) -> None:
    """Ask to crypto-shred a tenant's (or project's) keys; a second operator must approve."""
    with open_client(url) as client:
        request = client.request_key_shred(tenant_of(client, tenant), reason, project)
    console().print(
        render.literal(
            f"shred request {request['id']} for {request['ring']} recorded; another operator "
            f"approves it with: qplane keys approve-shred {request['id']}"
        )
    )


@one_line_errors
def approve_shred(
    request_id: Annotated[str, typer.Argument(help="The shred request id (shr_…).")],
    url: UrlOption = None,
) -> None:
    """Approve another operator's shred request: the keys are destroyed, for good."""
    with open_client(url) as client:
        evidence = client.approve_key_shred(request_id)
    console().print(
        render.literal(
            f"destroyed versions {evidence['destroyed_versions']} of {evidence['ring']}; "
            f"{evidence['unrecoverable_values']} sealed values can no longer be decrypted"
        )
    )


@one_line_errors
def rotate_root(
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="The server's data directory.")
    ] = None,
    delete_old: Annotated[
        bool, typer.Option("--delete-old", help="Delete the old root key files afterwards.")
    ] = False,
) -> None:
    """On the server: a new root key wraps every tenant key; old roots can then be deleted."""
    settings = Settings()
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir})
    if settings.root_key is not None:
        raise ValueError("the root key comes from QPLANE_ROOT_KEY; rotate it where it is kept")
    database = Database(settings.effective_database_url)
    try:
        database.upgrade()
        done = root_rotation.rotate_root(
            database, settings.key_dir, delete_old=delete_old, record=_audit_root_rotation
        )
    finally:
        database.dispose()
    deleted = f"; deleted root versions {list(done.deleted_versions)}" if delete_old else ""
    console().print(
        f"root key version {done.new_version} now wraps {done.rewrapped} key versions{deleted}"
    )


def _settings_for(data_dir: Path | None) -> Settings:
    settings = Settings()
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir})
    if settings.root_key is not None:
        raise ValueError("the root key comes from QPLANE_ROOT_KEY; back it up where it is kept")
    return settings


@one_line_errors
def backup_root(
    to: Annotated[
        Path, typer.Option("--to", help="The recovery public key (qplane archive keygen).")
    ],
    out: Annotated[Path, typer.Option("--out", help="Where to write the sealed backup.")],
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="The server's data directory.")
    ] = None,
) -> None:
    """On the server: every root key version, sealed (ML-KEM-768 + X25519) to a recovery key."""
    settings = _settings_for(data_dir)
    recipient = HybridKemPublicKey.from_pem(to.read_text(encoding="ascii"))
    blob, done = root_backup.backup_root_keys(settings.key_dir, recipient)
    write_new_secret_file(out, blob)
    console().print(
        render.literal(
            f"root key versions {list(done.versions)} sealed to {done.recipient_key_id} in {out}"
        )
    )


@one_line_errors
def restore_root(
    backup: Annotated[Path, typer.Argument(help="A file written by qplane keys backup-root.")],
    key: Annotated[Path, typer.Option("--key", help="The recovery private key.")],
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="The server's data directory.")
    ] = None,
) -> None:
    """On the server: write the backed-up root keys back (never over a different key)."""
    settings = _settings_for(data_dir)
    private = HybridKemPrivateKey.from_pem(read_secret_file(key).decode("ascii"))
    done = root_backup.restore_root_keys(settings.key_dir, backup.read_bytes(), private)
    console().print(f"root key versions {list(done.versions)} restored into {settings.key_dir}")


def _audit_root_rotation(uow: UnitOfWork, version: int, rewrapped: int) -> None:
    audit(
        uow,
        None,
        "key.rotate_root",
        tenant_id=None,
        target=f"root/v{version}",
        detail=f"root key version {version} now wraps {rewrapped} key versions",
    )


def _show(rings: list[JSON]) -> None:
    table = Table("ring", "protects", "env", "provider", "state", "versions", "min", "to rewrap")
    for ring in rings:
        protects = f"project {ring['project_id']}" if ring["project_id"] else "tenant"
        versions = ", ".join(f"v{v['version']} {v['state']}" for v in ring["versions"])
        cells = (
            ring["name"],
            protects,
            ring["environment"],
            ring["provider"],
            ring["state"],
            versions,
            ring["min_decrypt_version"],
            ring["pending_rewrap"],
        )
        table.add_row(*(render.literal(cell) for cell in cells))
    console().print(table)
