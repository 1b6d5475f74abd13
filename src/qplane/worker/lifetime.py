"""Tying a child process's life to its parent's (Linux), so nothing runs unsupervised.

A worker whose control plane was killed, or a sandbox whose worker was
killed, would otherwise carry on alone: polling a dead server, or burning
CPU on a result nobody will collect.
"""

from __future__ import annotations

import ctypes
import signal
from collections.abc import Callable
from typing import Final

_PR_SET_PDEATHSIG: Final = 1


def _load_prctl() -> Callable[[int, int], int] | None:
    try:
        prctl: Callable[[int, int], int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux: children may outlive their parent
        return None
    return prctl


#: Resolved once at import, before any fork: a pre-exec hook may only make system calls.
_PRCTL: Final = _load_prctl()


def die_with_parent(sig: signal.Signals = signal.SIGKILL) -> None:
    """Ask the kernel to send *sig* to this process when its parent dies.

    Meant for ``preexec_fn`` (it runs in the forked child before exec); it
    makes one system call and allocates nothing.
    """
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, sig)
