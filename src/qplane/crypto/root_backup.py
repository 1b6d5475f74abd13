"""Backing up the local root keys, sealed for a recovery key with hybrid post-quantum encryption.

A root key backup lives for years (it must outlast every KEK it can
recover), so it is exactly the kind of long-lived secret a "harvest now,
decrypt later" adversary would store: the backup is sealed with the X-Wing
hybrid KEM (ML-KEM-768 + X25519, `qplane.crypto.hybrid_kem`) to a recovery
key kept offline, so breaking either algorithm alone reveals nothing.
Restoring writes the root key files back (0600), refusing to overwrite a
different key of the same version.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from qplane.crypto import hybrid_kem
from qplane.crypto._aad import encode_aad
from qplane.crypto.errors import KeyUnavailable
from qplane.crypto.keyfiles import read_secret_file, write_new_secret_file
from qplane.crypto.keyring import load_root_keys, root_key_path, root_versions
from qplane.domain.errors import Conflict, IntegrityError

_FORMAT: Final = "qplane/root-key-backup/v1"
_AAD: Final = encode_aad(_FORMAT)


@dataclass(frozen=True, slots=True)
class RootBackup:
    versions: tuple[int, ...]
    recipient_key_id: str


def backup_root_keys(
    key_dir: Path, recipient: hybrid_kem.HybridKemPublicKey
) -> tuple[bytes, RootBackup]:
    """Every root key version in *key_dir*, sealed to *recipient*; returns (blob, summary)."""
    versions = root_versions(key_dir)
    if not versions:
        raise KeyUnavailable("there is no root key file to back up")
    load_root_keys(key_dir)  # refuses files others can read before anything leaves them
    files = {
        str(v): base64.b64encode(read_secret_file(root_key_path(key_dir, v))).decode()
        for v in versions
    }
    document = json.dumps({"format": _FORMAT, "root_keys": files}, sort_keys=True).encode()
    blob = hybrid_kem.seal(recipient, document, _AAD)
    return blob, RootBackup(tuple(versions), recipient.fingerprint)


def restore_root_keys(
    key_dir: Path, blob: bytes, recovery: hybrid_kem.HybridKemPrivateKey
) -> RootBackup:
    """Write the backed-up root key files into *key_dir* (existing identical files are kept)."""
    document = json.loads(hybrid_kem.open(recovery, blob, _AAD))
    if not isinstance(document, dict) or document.get("format") != _FORMAT:
        raise IntegrityError("not a qplane root key backup")
    files = document.get("root_keys")
    if not isinstance(files, dict) or not files:
        raise IntegrityError("the backup holds no root key")
    restored = []
    for version_text, encoded in sorted(files.items()):
        version = int(version_text)
        data = base64.b64decode(encoded, validate=True)
        path = root_key_path(key_dir, version)
        if path.exists():
            if read_secret_file(path) != data:
                raise Conflict(f"root key version {version} already exists and differs")
        else:
            write_new_secret_file(path, data)
        restored.append(version)
    load_root_keys(key_dir)  # what was written must load as root keys
    return RootBackup(tuple(restored), recovery.public_key().fingerprint)
