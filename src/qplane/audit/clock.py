"""Which clock stamped an audit entry, recorded with every entry.

Why: evidence is only as good as its timestamps. An entry says which
kernel clock source the server read and whether the kernel reported that
clock as synchronised (NTP/PTP discipline, read with ``adjtimex``) when it
was stamped, so an auditor can tell a disciplined clock from a drifting
one. Deployments whose time comes from elsewhere (a PTP grandmaster, a
cloud time service) name it with ``QPLANE_AUDIT_CLOCK_SOURCE``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
import time
from pathlib import Path
from typing import Final

_CLOCKSOURCE: Final = Path("/sys/devices/system/clocksource/clocksource0/current_clocksource")
#: ``adjtimex`` returns TIME_ERROR (5) while the kernel clock is not synchronised.
_TIME_ERROR: Final = 5
#: Larger than any platform's ``struct timex``; modes = 0 (the first field) only reads.
_TIMEX_BYTES: Final = 512
_REFRESH_S: Final = 60.0


class ClockSource:
    """The description entries carry; the kernel's sync state is re-read once a minute."""

    def __init__(self, configured: str | None = None) -> None:
        self._configured = configured
        self._lock = threading.Lock()
        self._cached = ""
        self._read_at = float("-inf")

    def describe(self) -> str:
        if self._configured:
            return self._configured
        now = time.monotonic()
        with self._lock:
            if now - self._read_at > _REFRESH_S:
                self._cached = f"system:{_kernel_clocksource()};sync={_sync_state()}"
                self._read_at = now
            return self._cached


def _kernel_clocksource() -> str:
    try:
        return _CLOCKSOURCE.read_text().strip() or "unknown"
    except OSError:
        return "unknown"


def _sync_state() -> str:
    """'synchronised', 'unsynchronised', or 'unknown' where the kernel cannot say."""
    name = ctypes.util.find_library("c")
    if name is None:
        return "unknown"
    try:
        adjtimex = ctypes.CDLL(name, use_errno=True).adjtimex
    except (OSError, AttributeError):
        return "unknown"
    buffer = ctypes.create_string_buffer(_TIMEX_BYTES)
    state = adjtimex(buffer)
    if state < 0:
        return "unknown"
    return "unsynchronised" if state == _TIME_ERROR else "synchronised"
