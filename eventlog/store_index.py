"""FileEventLog's id, stream and seek index: kept caught up with the log, and rebuilt from it.

A mixin of :class:`eventlog.store.FileEventLog` (the attributes it uses are set there). The
index is a cache: the log is the truth, so every answer it gives is checked against the log.
"""
from __future__ import annotations

import itertools
from pathlib import Path
from typing import TYPE_CHECKING

from . import forks
from .errors import LogCorruptedError, LogTruncatedError
from .fsutil import make_dirs
from .segments import TailCut, list_segments
from .verify import rewind_cursors

if TYPE_CHECKING:  # pragma: no cover - loaded where used: most appends need no index (nor its sqlite)
    from .events import Event
    from .index import EventIndex


class IndexKeeping:
    """The index's side of the log: catching it up, trusting it only as far as the log agrees."""

    def _open_index(self) -> EventIndex:
        # SQLite connections must not cross a fork either.
        if self._index is None or self._index_generation != forks.generation:
            make_dirs(self.paths.events)
            from .index import EventIndex

            self._index = EventIndex(self.paths.index_file)
            self._index_generation = forks.generation
        return self._index

    def _caught_up_index(self, limit: int | None = None) -> EventIndex:
        index = self._open_index()
        tail = self._tail
        position = index.position()
        if position.seq == tail.head_seq and position.id == tail.head_id:
            return index
        if position.seq > tail.head_seq:
            raise LogTruncatedError(
                f"the log ends at seq {tail.head_seq} but seq {position.seq} was stored before: "
                "acknowledged events were lost or the log was replaced. Run `lokilog verify` for "
                "details; `lokilog verify --fix` accepts the loss and re-indexes"
            )
        if position.seq and self._event_at(position.segment, position.offset, position.seq) != position.id:
            raise LogTruncatedError(
                f"seq {position.seq} in the log is not the event the index saw ({position.id}): "
                "the log was rewritten. Run `lokilog verify --fix` to re-index"
            )
        from .index import IndexEntry
        from .reader import entries_after

        entries = (
            IndexEntry(ev.seq, ev.id, ev.stream, seg, start, end)
            for ev, seg, start, end in entries_after(self.paths.log_dir, position.segment, position.end)
        )
        index.add(entries if limit is None else itertools.islice(entries, limit))
        return index

    def _event_at(self, segment_first: int, offset: int, seq: int) -> str | None:
        from .reader import entries_after

        for ev, _, _, _ in entries_after(self.paths.log_dir, segment_first, offset):
            return ev.id if ev.seq == seq else None
        return None

    def _stored_event(self, index: EventIndex, event_id: str) -> Event | None:
        # The index is a cache: a hit counts only once the log holds that id at that seq.
        # Anything else means the index is wrong, and trusting it would acknowledge an event
        # as "already stored" that is not: rebuild it from the log and ask again.
        seq = index.lookup_id(event_id)
        if seq is None:
            return None
        event = self.get(seq)
        if event is not None and event.id == event_id:
            return event
        index.reset()
        self._caught_up_index()
        seq = index.lookup_id(event_id)
        event = None if seq is None else self.get(seq)
        if seq is not None and (event is None or event.id != event_id):
            raise LogCorruptedError(f"the index maps id {event_id!r} to seq {seq} even after a rebuild from the log")
        return event

    def recover(self) -> list[TailCut]:
        """Take the lock and repair the active segment's tail; return what was cut (and saved)."""
        self._lock.acquire(self.settings.lock_timeout)
        try:
            before = len(self.cuts)
            self._forget_tail()
            tail = self._current_tail()
            # Appends whose writers died waiting for their fsync: kept, made durable and visible.
            self._group.settle_written(self._fd, tail.segment.name, tail.inode, tail.size)
            return self.cuts[before:]
        finally:
            self._lock.release()

    def accept_truncation(self) -> int:
        """Accept that the log lost its tail: re-index from the log as it is now; return the head."""
        self._lock.acquire(self.settings.lock_timeout)
        try:
            self._forget_tail()
            self._marks.remove()
            segments = list_segments(self.paths.log_dir)
            tail = self._load_tail(segments[-1].path, segments[-1].first_seq, reuse_fd=False) if segments else None
            head = tail.head_seq if tail else 0
            index = self._open_index()
            index.reset(keep_max_seen=False)
            rewind_cursors(self.paths.cursors, head)
            if tail is not None:
                self._caught_up_index()
            return head
        finally:
            self._lock.release()

    def rebuild_index(self) -> None:
        """Throw the index away and rebuild it from the log (it is only a cache)."""
        self._lock.acquire(self.settings.lock_timeout)
        try:
            if self._index is not None and self._index_generation == forks.generation:
                self._index.close()
            self._index = None
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.paths.index_file}{suffix}").unlink(missing_ok=True)
            self._current_tail()
            self._caught_up_index()
        finally:
            self._lock.release()

    def stream_version(self, stream: str) -> int:
        """Return how many events a stream holds (the version an append must expect)."""
        self._lock.acquire(self.settings.lock_timeout)
        try:
            self._current_tail()
            return self._caught_up_index().stream_version(stream)
        finally:
            self._lock.release()

    def refresh_index(self, timeout: float | None = None, max_events: int | None = None) -> int:
        """Bring the id, stream and seek index up to the log's head (or ``max_events`` further);
        return the seq it covers.

        Appends keep the index current only when they need it (ids, streams); a reader that pages
        through a large log by seq calls this so that its reads seek instead of scanning.
        ``max_events`` bounds how long one call holds the log lock on a large unindexed log.
        """
        self._lock.acquire(self.settings.lock_timeout if timeout is None else timeout)
        try:
            self._current_tail()
            return self._caught_up_index(max_events).position().seq
        finally:
            self._lock.release()
