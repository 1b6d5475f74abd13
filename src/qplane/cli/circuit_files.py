"""Reading a circuit file for `qplane submit` and deciding which OpenQASM dialect it is."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final, Literal

Format = Literal["qasm2", "qasm3"]
FORMATS: Final[tuple[Format, ...]] = ("qasm2", "qasm3")
#: Larger files are refused locally; the server's own payload limit is far smaller.
MAX_FILE_BYTES: Final = 4 * 1024 * 1024

_HEADER: Final = re.compile(r"OPENQASM\s+(\d+)(?:\.\d+)?\s*;")
_LINE_COMMENT: Final = re.compile(r"//[^\n]*")
_BLOCK_COMMENT: Final = re.compile(r"/\*.*?\*/", re.DOTALL)


def detect_format(path: Path, source: str) -> Format:
    """The dialect of *source*: its ``OPENQASM n;`` header decides, then the file extension.

    The header is authoritative because it is what the parser reads. Without
    one, ``.qasm2`` means OpenQASM 2; anything else is OpenQASM 3, the only
    version whose header is optional.
    """
    version = header_version(source)
    if version is not None:
        return "qasm3" if version >= 3 else "qasm2"
    return "qasm2" if path.suffix.lower() == ".qasm2" else "qasm3"


def header_version(source: str) -> int | None:
    """The major version in the program's leading ``OPENQASM`` statement, if it has one."""
    stripped = _LINE_COMMENT.sub("", _BLOCK_COMMENT.sub("", source)).lstrip()
    match = _HEADER.match(stripped)
    return int(match.group(1)) if match else None


def read_circuit(path: Path, fmt: str | None) -> tuple[str, Format]:
    """Read *path* (UTF-8) and return its text with the explicit or detected format.

    Raises `ValueError` with a one-line reason for a missing, oversized or
    undecodable file or an unknown format name.
    """
    if fmt is not None and fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: use qasm2 or qasm3")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ValueError(f"{path} is {size} bytes; circuits larger than 4 MiB are refused")
        source = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text") from None
    if fmt is None:
        return source, detect_format(path, source)
    return source, "qasm3" if fmt == "qasm3" else "qasm2"
