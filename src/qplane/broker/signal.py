"""A cheap in-process hint that work may have become available.

Workers long-poll for leases; instead of asking the database every few
milliseconds, a waiting lease request watches this counter and asks again
when it moves (a job was queued, a running slot freed) or, at the latest,
every second — which also catches work queued through another API server.
"""

from __future__ import annotations

import threading


class WorkSignal:
    def __init__(self) -> None:
        self._generation = 0
        self._lock = threading.Lock()

    @property
    def generation(self) -> int:
        return self._generation

    def bump(self) -> None:
        with self._lock:
            self._generation += 1
