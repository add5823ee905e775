"""FileEventLog's side of the drop box and Loki Mode's files: ingesting them under the log lock.

A mixin of :class:`eventlog.store.FileEventLog` (the attributes it uses are set there). The
ingester itself (eventlog/legacy/ingest.py) is loaded only once the cheap change check
(eventlog/ingest_watch.py) says there is something to ingest.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import LegacyIngestError, LogCorruptedError
from .ingest_seam import IngestReport
from .ingest_watch import ChangeWatch

if TYPE_CHECKING:  # pragma: no cover
    from .appends import Prepared
    from .index import EventIndex
    from .segments import Tail

DROP_BOX_INTERVAL_NS = 5_000_000  # as eventlog/legacy/ingest.py's own throttle, across processes


class DropBoxIngest:
    """Moving what waits outside the log into it, exactly once."""

    def ingest_pending(self, timeout: float | None = None, progress=None) -> IngestReport:
        """Move every event waiting in the drop box into the log, exactly once.

        ``progress(done, total, label)`` follows the files, then the flat files' bytes.
        """
        self._lock.acquire(self.settings.lock_timeout if timeout is None else timeout)
        try:
            return self._ingest_pending_locked(force=True, progress=progress)
        finally:
            self._lock.release()

    def _ingest_pending_locked(self, force: bool, throttle: bool = True, progress=None) -> IngestReport | None:
        # The drop box, archive/ and Loki Mode's flat files: see eventlog/legacy/ingest.py.
        if not force and throttle and self._group.drop_box_checked(DROP_BOX_INTERVAL_NS):
            return None
        # The change check comes first, without the ingester: its import is most of an emit's start-up.
        parts = None if force else self.changes().changed_parts(throttle)
        if parts is not None and not parts:
            return None
        ingester = self._ingester()
        report = IngestReport()
        try:
            ingester.run(report, parts, progress)
        except LegacyIngestError:
            if force:
                raise  # an append must not fail because the ingester's own state is unusable
        return report

    # The ingest seam (eventlog/ingest_seam.py): public names for what the ingester calls with
    # the lock held, and for the ingester itself, which callers poll for changes.
    def write_locked(self, prepared: list[Prepared], durable: bool, skip_conflicts: bool = False,
                     expected: dict[str, int] | None = None):
        return self._write_locked(prepared, durable, skip_conflicts, expected)

    def current_tail(self) -> Tail:
        return self._current_tail()

    def caught_up_index(self, limit: int | None = None) -> EventIndex:
        return self._caught_up_index(limit)

    def ingester(self):
        """The ingester of this log's drop box and Loki Mode's files (made on first use)."""
        return self._ingester()

    def changes(self) -> ChangeWatch:
        """The cheap check of whether the drop box or Loki Mode's files changed (no ingester loaded)."""
        if self._watch is None:
            self._watch = ChangeWatch(self.paths)
        return self._watch

    def _ingester(self):
        if self._ingester_obj is None:
            from .legacy.ingest import Ingester

            self._ingester_obj = Ingester(self, self.changes())
        return self._ingester_obj

    def _ingest_if_free(self) -> None:
        # Readers ingest first so they see what was emitted, but never wait to do so.
        if not self.changes().changed_parts():
            return
        if not self._lock.try_acquire():
            return
        try:
            self._ingest_pending_locked(force=False, throttle=False)
        except (PermissionError, LogCorruptedError, LegacyIngestError):
            pass  # a read-only reader still reads; writers report the problem
        finally:
            self._lock.release()
