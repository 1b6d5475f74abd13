"""A tenant's pinned checkpoint, and the check that today's log still extends it.

A pin is a signed checkpoint the tenant saved, with the verifier keys it
trusted when it saved it (``qplane-audit-pin/1``, one JSON object). Later,
the platform's consistency proof from the pinned size to its newest
checkpoint, checked here with the pinned keys, shows the log has only grown
since: it never rewound (dropped entries the pin covers) nor forked
(rewrote them), which no operator can fake without the signing key.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from qplane.audit.checkpoint import Checkpoint, parse_and_verify
from qplane.audit.merkle import verify_consistency
from qplane.audit.note import NoteVerifier, parse_vkey
from qplane.domain.errors import IntegrityError

PIN_FORMAT: Final = "qplane-audit-pin/1"


@dataclass(frozen=True, slots=True)
class Pin:
    log: str
    origin: str
    vkeys: tuple[str, ...]
    #: The C2SP signed note of the pinned checkpoint.
    note: str

    def to_json(self) -> str:
        body = {
            "format": PIN_FORMAT,
            "log": self.log,
            "origin": self.origin,
            "vkeys": list(self.vkeys),
            "note": self.note,
        }
        return json.dumps(body, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Pin:
        """The pin in *text*; `IntegrityError` unless it is a well-formed pin file."""
        try:
            body = json.loads(text)
        except ValueError:
            raise IntegrityError("the pin file is not JSON") from None
        if not isinstance(body, dict) or body.get("format") != PIN_FORMAT:
            raise IntegrityError(f"not a {PIN_FORMAT} file")
        values = [body.get(name) for name in ("log", "origin", "note")]
        vkeys = body.get("vkeys")
        if not all(isinstance(v, str) for v in values) or not isinstance(vkeys, list):
            raise IntegrityError("malformed pin file")
        if not all(isinstance(v, str) for v in vkeys):
            raise IntegrityError("malformed pin file")
        log, origin, note = values
        return cls(str(log), str(origin), tuple(vkeys), str(note))

    def verifiers(self, keys: Sequence[str] = ()) -> list[NoteVerifier]:
        """The verifiers of *keys* if given, else of the keys pinned with the checkpoint."""
        return [parse_vkey(vkey) for vkey in (keys or self.vkeys)]

    def checkpoint(self, verifiers: Sequence[NoteVerifier]) -> Checkpoint:
        return parse_and_verify(self.note, verifiers, origin=self.origin)


def read_pinned_note(text: str) -> tuple[str, tuple[str, ...]]:
    """(note, pinned vkeys) from a pin file, or from a bare saved note (no keys)."""
    if text.lstrip().startswith("{"):
        pin = Pin.from_json(text)
        return pin.note, pin.vkeys
    return text, ()


def check_extends(
    pinned: Checkpoint,
    newer_note: str,
    proof: Sequence[str],
    verifiers: Sequence[NoteVerifier],
) -> Checkpoint:
    """The newer checkpoint, once *proof* shows it extends *pinned*; else `IntegrityError`.

    The newer note must be signed by every one of *verifiers* for the pinned
    log; a smaller one means the log rewound behind the pin.
    """
    newer = parse_and_verify(newer_note, verifiers, origin=pinned.origin)
    if newer.size < pinned.size:
        raise IntegrityError(
            f"the log rewound: its newest checkpoint has size {newer.size}, "
            f"the pinned one {pinned.size}"
        )
    try:
        verify_consistency(
            old_size=pinned.size,
            new_size=newer.size,
            old_root=pinned.root_hash,
            new_root=newer.root_hash,
            proof=[_hash(h) for h in proof],
        )
    except IntegrityError as exc:
        raise IntegrityError(
            f"the log forked or rewound behind the pinned checkpoint of size {pinned.size}: "
            f"{exc.detail}"
        ) from None
    return newer


def _hash(value: Any) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise IntegrityError("malformed consistency proof") from None
