"""`qplane audit export | pin | check-pin`, and `qplane audit verify EXPORT` offline.

A tenant admin or auditor takes the tenant's log away as a file, pins a
signed checkpoint, and later checks, with nothing but that file or pin and
the verifier keys it trusts, that the log is intact and never rewound or
forked. Verification runs locally; only export and check-pin talk to the
control plane. Every failure is one line and a non-zero exit.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from qplane.audit.export import ENCODINGS
from qplane.audit.offline import verify_export
from qplane.audit.pinning import Pin, check_extends, read_pinned_note
from qplane.cli import render
from qplane.cli.errors import fail, one_line_errors
from qplane.cli.session import UrlOption, console, open_client
from qplane.domain.audit import Outcome
from qplane.domain.errors import IntegrityError
from qplane.sdk.errors import QplaneAPIError

OutOption = Annotated[Path, typer.Option("--out", help="The file to write.")]
KeyOption = Annotated[
    list[str] | None,
    typer.Option("--key", help="A verifier key (vkey) you trust; repeat for each key."),
]
_Text = Annotated[str | None, typer.Option()]


def verify_export_file(export: Path, keys: list[str], pinned: Path | None) -> None:
    """Verify *export* offline and print one line; exit non-zero naming the first fault.

    Keys: those given, else those saved in the pin file, else the export's
    own (the report then says the signatures prove only self-consistency).
    """
    note: str | None = None
    try:
        if pinned is not None:
            note, pinned_keys = read_pinned_note(pinned.read_text(encoding="utf-8"))
            keys = keys or list(pinned_keys)
        with export.open("rb") as lines:
            report = verify_export(lines, keys or None, note)
    except OSError as exc:
        raise fail(f"cannot read {exc.filename}: {exc.strerror}") from None
    if not report.ok:
        raise fail(report.describe())
    console().print(render.literal(report.describe()))


def export(
    out: OutOption,
    format: Annotated[
        str, typer.Option("--format", help=f"One of {', '.join(ENCODINGS)}.")
    ] = "jsonl",
    action: _Text = None,
    outcome: Annotated[Outcome | None, typer.Option()] = None,
    actor_id: _Text = None,
    workload_id: _Text = None,
    job_id: _Text = None,
    backend: _Text = None,
    decision: _Text = None,
    target: _Text = None,
    since: Annotated[datetime | None, typer.Option(help="From this time (inclusive).")] = None,
    until: Annotated[datetime | None, typer.Option(help="Until this time (exclusive).")] = None,
    url: UrlOption = None,
) -> None:
    """Export your tenant's audit log with its proofs (tenant admin, auditor); filters narrow it."""
    if format not in ENCODINGS:
        raise ValueError(f"--format must be one of {', '.join(ENCODINGS)}")
    filters = {
        "action": action,
        "outcome": None if outcome is None else outcome.value,
        "actor_id": actor_id,
        "workload_id": workload_id,
        "job_id": job_id,
        "backend": backend,
        "decision": decision,
        "target": target,
        "since": _utc(since),
        "until": _utc(until),
    }
    partial = out.with_name(out.name + ".partial")
    count = 0
    try:
        with open_client(url) as client, partial.open("w", encoding="utf-8") as file:
            for line in client.audit_export(format, **{k: v for k, v in filters.items() if v}):
                file.write(line + "\n")
                count += 1
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    console().print(render.literal(f"exported {count} lines to {out}"))


def pin(
    out: OutOption,
    fresh: Annotated[bool, typer.Option(help="Have the log sign a checkpoint now.")] = False,
    url: UrlOption = None,
) -> None:
    """Save your log's latest signed checkpoint, and the keys that verify it, to check later."""
    with open_client(url) as client:
        keys = client.audit_keys()
        latest = client.audit_checkpoint(fresh=fresh)
    log, template = _text(latest, "log"), _text(keys, "log_origin_template")
    vkeys = keys.get("vkeys")
    if not isinstance(vkeys, list) or not all(isinstance(v, str) for v in vkeys):
        raise IntegrityError("the server sent no verifier keys")
    saved = Pin(log, template.replace("{log}", log), tuple(vkeys), _text(latest, "note"))
    checkpoint = saved.checkpoint(saved.verifiers())  # refuse to pin what does not verify
    out.write_text(saved.to_json(), encoding="utf-8")
    console().print(
        render.literal(f"pinned checkpoint of size {checkpoint.size} of log {saved.log} in {out}")
    )


def check_pin(
    pin_file: Annotated[Path, typer.Argument(help="A file written by `qplane audit pin`.")],
    key: KeyOption = None,
    advance: Annotated[
        bool, typer.Option(help="On success, move the pin to the newest checkpoint.")
    ] = False,
    url: UrlOption = None,
) -> None:
    """Prove, with the pinned keys, that your log still extends the pinned checkpoint."""
    saved = Pin.from_json(pin_file.read_text(encoding="utf-8"))
    verifiers = saved.verifiers(key or ())
    pinned = saved.checkpoint(verifiers)
    with open_client(url) as client:
        try:
            answer = client.audit_consistency(pinned.size)
        except QplaneAPIError as exc:
            if exc.status != 404:
                raise
            raise IntegrityError(
                f"the log has no checkpoint of the pinned size {pinned.size} any more: "
                "it rewound or forked behind your pin"
            ) from None
    newer_note, hashes = _text(answer.get("new") or {}, "note"), answer.get("hashes")
    if not isinstance(hashes, list):
        raise IntegrityError("the server sent no consistency proof")
    newer = check_extends(pinned, newer_note, hashes, verifiers)
    if advance:
        moved = Pin(saved.log, saved.origin, saved.vkeys, newer_note)
        pin_file.write_text(moved.to_json(), encoding="utf-8")
    console().print(
        render.literal(
            f"audit log {saved.log} extends the pinned checkpoint of size {pinned.size} "
            f"(newest: size {newer.size}): it never rewound or forked"
        )
    )


def _text(answer: dict[str, Any], name: str) -> str:
    """A text field of a server answer; `IntegrityError` (one line) when it is missing."""
    value = answer.get(name)
    if not isinstance(value, str):
        raise IntegrityError(f"the server's answer has no {name}")
    return value


def _utc(at: datetime | None) -> str | None:
    """*at* for the API; a time typed without a zone is read as UTC, like every audit time."""
    if at is None:
        return None
    return (at if at.tzinfo is not None else at.replace(tzinfo=UTC)).isoformat()


def register(audit_app: typer.Typer) -> None:
    """Add these commands to the ``qplane audit`` group."""
    audit_app.command("export")(one_line_errors(export))
    audit_app.command("pin")(one_line_errors(pin))
    audit_app.command("check-pin")(one_line_errors(check_pin))
