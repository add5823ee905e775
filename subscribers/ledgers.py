"""Ledger states kept current in memory: fold only the events appended since the last look.

Long-lived consumers (the metrics server, the budget watcher) start from the engine's
``catch_up`` and then fold new events themselves, so each scrape or check costs the events
since the previous one, not a replay of the log.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable, TypeVar

from eventlog import FileEventLog
from projections.base import Projection
from projections.engine import catch_up

T = TypeVar("T")


class LiveLedger:
    """One projection's state, refreshed on demand; safe to share between threads."""

    def __init__(self, loki_dir: Path, projection: Projection) -> None:
        self.loki_dir = Path(loki_dir)
        self.projection = projection
        self.seq = 0
        self.state: Any = None
        self._lock = threading.Lock()

    def read(self, use: Callable[[int, Any], T]) -> T:
        """Fold the events appended since the last look, then return ``use(seq, state)``.

        ``use`` runs under the ledger's lock: the state is updated in place by later folds, so
        it must not escape the call.
        """
        with self._lock:
            self._refresh()
            return use(self.seq, self.state)

    def _refresh(self) -> None:
        if self.state is None:
            found = catch_up(self.loki_dir, self.projection, write_views=False)
            self.seq, self.state = found.seq, found.state
            return
        apply = self.projection.apply
        with FileEventLog(self.loki_dir) as log:
            for event in log.read(self.seq + 1):
                self.state = apply(self.state, event)
                self.seq = event.seq
