"""``qplane archive``: archives for reproducibility, sealed to your post-quantum key.

``keygen`` makes a recipient key pair (X-Wing: ML-KEM-768 + X25519); ``job``
asks the platform for a verified job's archive sealed to the public half;
``open`` decrypts one with the private half, verifies the platform's
attestation and the circuit and result hashes, and can extract the files.

The private key file holds the key in the clear, mode 0600 (a new directory
is made 0700), like every other qplane key file; one that group or others can
access is refused. Keep it offline or on encrypted storage: whoever holds
it opens every archive sealed to it (docs/cryptography.md, "Archives and
attestations").
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Final

import typer

from qplane.cli import render
from qplane.cli.errors import fail, one_line_errors
from qplane.cli.session import UrlOption, console, open_client
from qplane.crypto.hybrid_kem import HybridKemPrivateKey, HybridKemPublicKey
from qplane.crypto.hybrid_signature import HybridSignaturePublicKey
from qplane.crypto.job_archive import OpenedArchive, archive_job_id, open_archive
from qplane.crypto.keyfiles import read_secret_file
from qplane.sdk.client import QplaneClient

PRIVATE_FILE: Final = "recipient.key"
PUBLIC_FILE: Final = "recipient.pub"

archive_app = typer.Typer(
    help="Archives for reproducibility: a verified job, attested by the platform and sealed "
    "to your hybrid post-quantum key.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    archive_app.command("keygen")(keygen)
    archive_app.command("job")(archive_job)
    archive_app.command("open")(open_file)
    archive_app.command("attestation-key")(attestation_key)
    app.add_typer(archive_app, name="archive")


@one_line_errors
def keygen(
    out: Annotated[
        Path, typer.Option("--out", help="Directory for recipient.key (0600) and recipient.pub.")
    ],
) -> None:
    """Make a recipient key pair; the private key is stored unencrypted, readable by you only."""
    private_path, public_path = out / PRIVATE_FILE, out / PUBLIC_FILE
    for path in (private_path, public_path):
        if path.exists():
            raise fail(f"{path} already exists; refusing to overwrite a key")
    private = HybridKemPrivateKey.generate()
    out.mkdir(mode=0o700, parents=True, exist_ok=True)  # an existing directory is left as it is
    _write_new(private_path, private.to_pem(wrapping_key=None).encode("ascii"), mode=0o600)
    _write_new(public_path, private.public_key().to_pem().encode("ascii"), mode=0o644)
    console().print(render.literal(f"recipient key {private.public_key().fingerprint}"))
    console().print(render.literal(f"private key: {private_path} (keep it secret and offline)"))
    console().print(render.literal(f"public key:  {public_path} (give it to `archive job --to`)"))


@one_line_errors
def archive_job(
    job_id: Annotated[str, typer.Argument(help="A verified job.", show_default=False)],
    to: Annotated[Path, typer.Option("--to", help="The recipient's public key (recipient.pub).")],
    out: Annotated[Path, typer.Option("--out", help="The archive file to write (never replaced).")],
    url: UrlOption = None,
) -> None:
    """Fetch a verified job's archive, sealed to the recipient's public key."""
    recipient = HybridKemPublicKey.from_pem(to.read_text(encoding="ascii"))
    if out.exists():
        raise fail(f"{out} already exists; refusing to overwrite it")
    with open_client(url) as client:
        blob = client.archive_job(job_id, recipient.to_pem())
    if archive_job_id(blob) != job_id:
        raise fail("the server answered with an archive of another job")
    _write_new(out, blob, mode=0o600)
    console().print(
        render.literal(
            f"archive of job {job_id} sealed to {recipient.fingerprint[:16]}… "
            f"written to {out} ({len(blob)} bytes)"
        )
    )


@one_line_errors
def open_file(
    file: Annotated[Path, typer.Argument(help="An archive file.", show_default=False)],
    key: Annotated[Path, typer.Option("--key", help="Your private key (recipient.key).")],
    attestation_key_file: Annotated[
        Path | None,
        typer.Option(
            "--attestation-key",
            help="The platform's attestation public key (PEM); default: fetch it from the "
            "platform (--url, or the one you logged in to).",
            show_default=False,
        ),
    ] = None,
    extract: Annotated[
        Path | None,
        typer.Option(
            "--extract", help="Write circuit, result, log, job and attestation files here."
        ),
    ] = None,
    url: UrlOption = None,
) -> None:
    """Decrypt an archive, verify the attestation and the hashes, and show what it holds.

    Any change to the file, a key that is not its recipient's, or an attestation
    that does not verify is a one-line error with a non-zero exit; nothing is extracted then.
    """
    private = HybridKemPrivateKey.from_pem(read_secret_file(key).decode("ascii"))
    platform_key, where = _platform_key(attestation_key_file, url)
    opened = open_archive(private, file.read_bytes(), platform_key)
    _show(opened, where)
    if extract is not None:
        _extract(opened, extract)
        console().print(render.literal(f"extracted to {extract}"))


@one_line_errors
def attestation_key(
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the PEM here instead of printing it.")
    ] = None,
    url: UrlOption = None,
) -> None:
    """The platform's public key for result attestations (keep a copy to verify offline)."""
    with _public_client(url) as client:
        body = client.attestation_key()
    pem = HybridSignaturePublicKey.from_pem(str(body["public_key"]))
    if pem.fingerprint != body["key_id"]:
        raise fail("the platform's attestation key does not match its key id")
    if out is None:
        typer.echo(pem.to_pem(), nl=False)
        return
    _write_new(out, pem.to_pem().encode("ascii"), mode=0o644)
    console().print(render.literal(f"attestation key {pem.fingerprint} written to {out}"))


def _platform_key(path: Path | None, url: str | None) -> tuple[HybridSignaturePublicKey, str]:
    if path is not None:
        return HybridSignaturePublicKey.from_pem(path.read_text(encoding="ascii")), str(path)
    with _public_client(url) as client:
        body = client.attestation_key()
        where = client.base_url
    return HybridSignaturePublicKey.from_pem(str(body["public_key"])), where


def _public_client(url: str | None) -> QplaneClient:
    """A client for the public key route: no token is sent to an explicit --url."""
    return QplaneClient(url) if url else open_client(None)


def _show(opened: OpenedArchive, where: str) -> None:
    archive, statement = opened.archive, opened.statement
    job = archive.job
    lines = [
        f"job {statement.job_id} (tenant {statement.tenant_id}, project {job.get('project_id')})",
        f"  backend {statement.backend}, shots {statement.shots}, seed {statement.seed}, "
        f"finished {statement.finished_at}",
        f"  circuit ({archive.circuit_format}) sha256 {statement.circuit_sha256}: matches",
        f"  result sha256 {statement.result_sha256}: matches",
        f"  log: {'none' if archive.log is None else f'{len(archive.log)} characters'}",
        f"attestation verified: platform key {statement.attestation_key_id} (from {where})",
    ]
    for line in lines:
        console().print(render.literal(line), soft_wrap=True, highlight=False)


def _extract(opened: OpenedArchive, directory: Path) -> None:
    """Write the archive's parts, readable by the owner only (they are the tenant's data)."""
    archive = opened.archive
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    files = {
        "circuit.qasm": archive.circuit_source,
        "result.json": archive.result_json,  # byte for byte what the statement hashes
        "job.json": json.dumps(archive.job, indent=2, sort_keys=True) + "\n",
        "attestation.json": json.dumps(archive.attestation.to_json(), indent=2) + "\n",
    }
    if archive.log is not None:
        files["log.txt"] = archive.log
    for name, text in files.items():
        _write_new(directory / name, text.encode("utf-8"), mode=0o600)


def _write_new(path: Path, data: bytes, *, mode: int) -> None:
    """Create *path* with *mode* (created so, never widened later) and sync it; never
    overwrite (`FileExistsError`, reported in one line)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
