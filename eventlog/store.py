"""FileEventLog: the durable, append-only log in `.loki/events/log/`.

Appends take the log lock with a bounded wait, read the tail to assign the next seq, write
whole lines in one go and (by default) fsync before acknowledging. A writer that cannot get
the lock in time drops its events into the pending drop box instead. Reads never lock.

The appends live here; the tail (eventlog/store_tail.py), the index (eventlog/store_index.py),
the drop box (eventlog/store_dropbox.py) and the reads (eventlog/store_reads.py) are mixins.
"""
from __future__ import annotations

import errno
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from . import forks, plainbatch
from .conditional import check_expected_versions, enforce_expected_versions
from .appends import Prepared, Receipt, complete, plan, prepare
from .codec import add_checksums, check_name, check_payload, encode_event, encode_events
from .config import Durability, LogSettings
from .errors import LockTimeoutError, LogTruncatedError, LogWriteError, SyncFailedError
from .events import FORMAT_VERSION, Event, NewEvent, new_event_id, now_timestamp
from .groupcommit import GroupCommit
from .ingest_watch import ChangeWatch
from .ingest_seam import IngestReport  # noqa: F401 - defined there, imported from here by callers
from .layout import LokiPaths, resolve_loki_dir
from .locking import LogLock
from .safeio import check_contained
from .segments import Tail, TailCut
from .store_dropbox import DropBoxIngest
from .store_index import IndexKeeping
from .store_reads import LogReads
from .store_tail import TailKeeping
from .tailmark import MarkWriter, TailMark, format_mark

__all__ = ["FileEventLog", "IngestReport", "LogTruncatedError", "LogWriteError"]

# Loaded where used: an append with a fresh id (what `lokilog emit` does once per process)
# needs neither the index and its sqlite, nor the reader, filters or drop box.
if TYPE_CHECKING:  # pragma: no cover
    from .index import EventIndex, IndexEntry


class FileEventLog(TailKeeping, IndexKeeping, DropBoxIngest, LogReads):
    """The event log of one `.loki/` directory.

    >>> log = FileEventLog(".loki")                      # doctest: +SKIP
    >>> log.append("task", "runner", {"action": "start", "task_id": "t1"}).seq
    1
    """

    def __init__(self, root: str | os.PathLike[str] | None = None, *, settings: LogSettings | None = None):
        self.paths = LokiPaths(resolve_loki_dir(root))
        check_contained(self.paths.root)  # a planted link must not take our writes outside `.loki/`
        self.settings = settings or LogSettings.from_env()
        self.cuts: list[TailCut] = []
        self._lock = LogLock(self.paths.lock_file)
        self._marks = MarkWriter(self.paths.tail_file)
        self._group = GroupCommit(self.paths.events, self._lock, self._marks, self.paths.tail_file)
        self._lock.signal = self._group.record.unlocked
        self._tickets: list | None = None  # durable appends written under the lock, to settle after it
        self._mark_prefix: tuple[tuple[Path, int], bytes] | None = None  # (segment, inode) -> line up to its size
        self._ingester_obj = None
        self._watch: ChangeWatch | None = None
        self._tail: Tail | None = None
        self._fd: int | None = None
        self._generation = forks.generation
        self._index: EventIndex | None = None
        self._index_generation = -1
        self._reader_index: EventIndex | None = None
    # ----------------------------------------------------------------- appending

    def append(
        self,
        type: str,
        source: str,
        payload: Mapping[str, Any] | None = None,
        *,
        id: str | None = None,
        timestamp: str | None = None,
        stream: str | None = None,
        expected_version: int | None = None,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        extra: Mapping[str, Any] | None = None,
        durability: Durability | str | None = None,
    ) -> Receipt:
        """Append one event and return its receipt (seq and id).

        Passing ``id`` makes the call idempotent: an id already stored returns the stored seq.
        ``stream`` with ``expected_version`` appends only if the stream holds exactly that many
        events, raising SequenceConflictError otherwise.
        """
        level = Durability.parse(durability) if durability else self.settings.durability
        if id is stream is correlation_id is causation_id is timestamp is None and not extra:
            return self._append_plain(type, source, payload, level is Durability.ALWAYS)
        item = prepare(NewEvent(
            type=type, source=source, payload=_as_dict(payload), id=id, timestamp=timestamp,
            stream=stream, expected_version=expected_version, correlation_id=correlation_id,
            causation_id=causation_id, extra=dict(extra) if extra else {},
        ))
        return self._commit([item], level is Durability.ALWAYS)[0]

    def _append_plain(self, type: str, source: str, payload: Mapping[str, Any] | None, durable: bool) -> Receipt:
        # The common case (a fresh id, no stream, no options) skips planning: it is what hooks
        # and runners call thousands of times a second, and it cannot conflict with anything.
        check_name("type", type)
        check_name("source", source)
        body = check_payload(_as_dict(payload))
        event_id, timestamp = new_event_id(), now_timestamp()
        try:
            self._lock.acquire(self.settings.lock_timeout)
        except LockTimeoutError:
            draft = NewEvent(type=type, source=source, payload=body, id=event_id, timestamp=timestamp)
            if not self.settings.pending_fallback:
                raise
            return self._drop(Prepared(draft, False), durable)
        try:
            self._ingest_pending_locked(force=False)
            seq = self._current_tail().head_seq + 1
            event = Event(seq=seq, id=event_id, type=type, source=source, timestamp=timestamp,
                          version=FORMAT_VERSION, payload=body)
            self._tickets = []
            self._write_events([event], durable, None)
        finally:
            tickets = self._release()
        self._settle(tickets)
        return Receipt(event_id, seq, "appended")

    def append_many(
        self, drafts: Iterable[NewEvent | Mapping[str, Any]], *, durability: Durability | str | None = None,
        expected_versions: Mapping[str, int] | None = None,
    ) -> list[Receipt]:
        """Append a batch under one lock with one write and one fsync (group commit).

        All or nothing: if any draft is invalid or conflicts, nothing is written.
        ``expected_versions`` ({stream: version}) stores the batch only if every named stream
        holds exactly that many events, raising StreamsConflictError otherwise (see
        eventlog/conditional.py); such a batch never falls back to the drop box.
        """
        level = Durability.parse(durability) if durability else self.settings.durability
        plain = None if expected_versions else plainbatch.plain_drafts(drafts)
        if plain:
            return self._append_plain_batch(plain, level is not Durability.NEVER)
        prepared = [prepare(d) for d in drafts]
        expected = check_expected_versions(expected_versions) if expected_versions else None
        if not prepared:
            return []
        return self._commit(prepared, level is not Durability.NEVER, expected)

    def _append_plain_batch(self, drafts: list, durable: bool) -> list[Receipt]:
        # Like _append_plain, for a batch of type/source/payload mappings (eventlog/plainbatch.py).
        try:
            self._lock.acquire(self.settings.lock_timeout)
        except LockTimeoutError:
            prepared = [prepare(plainbatch.as_mapping(drafts, n)) for n in range(len(drafts))]
            if not self.settings.pending_fallback:
                raise
            return [self._drop(item, durable) for item in prepared]
        try:
            self._ingest_pending_locked(force=False)
            head = self._current_tail().head_seq
            self._tickets = []
            encoded = plainbatch.encode(drafts, head, self.settings.max_event_bytes)
            if encoded is None:
                events, receipts = plainbatch.build(drafts, head)
                self._write_events(events, durable, None)
            else:
                data, receipts = encoded
                self._write_lines(data, receipts[-1].seq, receipts[-1].id, durable)
        finally:
            tickets = self._release()
        self._settle(tickets)
        return receipts

    def sync(self) -> None:
        """fsync the active segment: everything acknowledged so far survives power loss."""
        self._lock.acquire(self.settings.lock_timeout)
        try:
            if self._fd is not None and self._generation == forks.generation:
                os.fsync(self._fd)
        finally:
            self._lock.release()

    def _commit(self, prepared: list[Prepared], durable: bool, expected: dict[str, int] | None = None) -> list[Receipt]:
        try:
            self._lock.acquire(self.settings.lock_timeout)
        except LockTimeoutError:
            if expected or not self._may_fall_back(prepared):
                raise
            return [self._drop(item, durable) for item in prepared]
        try:
            self._ingest_pending_locked(force=False)
            self._tickets = []
            receipts = self._write_locked(prepared, durable, expected=expected).receipts
        finally:
            tickets = self._release()
        self._settle(tickets)
        return receipts

    def _release(self) -> list:
        tickets, self._tickets = self._tickets, None
        self._lock.release()
        return tickets or []

    def _settle(self, tickets: list) -> None:
        # Outside the lock: one fsync, by whichever waiting writer leads, covers them all.
        for ticket in tickets:
            self._group.settle(ticket, self.settings.lock_timeout, self._forget_tail)

    def _may_fall_back(self, prepared: list[Prepared]) -> bool:
        # A conditional append cannot wait in the drop box: its condition is about "now".
        return self.settings.pending_fallback and all(p.draft.expected_version is None for p in prepared)

    def _drop(self, item: Prepared, durable: bool) -> Receipt:
        draft = complete(item.draft)
        event = Event(
            seq=0, id=draft.id, type=draft.type, source=draft.source,
            timestamp=draft.timestamp, version=draft.version, stream=draft.stream,
            correlation_id=draft.correlation_id, causation_id=draft.causation_id,
            payload=draft.payload, extra=draft.extra,
        )
        encode_event(event, self.settings.max_event_bytes)  # same size rule as the log
        from .pending import drop

        path = drop(self.paths.pending, event, durable=durable)
        return Receipt(event.id, None, "pending", pending_file=str(path))

    def _write_locked(self, prepared: list[Prepared], durable: bool, skip_conflicts: bool = False,
                      expected: dict[str, int] | None = None):
        tail = self._current_tail()
        try:
            index = self._caught_up_index() if expected or _needs_index(prepared) else None
        except _db_error() as exc:
            raise LogWriteError(errno.EIO, f"the index cannot be updated, nothing stored: {exc}") from exc
        if expected:
            enforce_expected_versions(expected, index.stream_version)
        result = plan(
            prepared,
            tail.head_seq,
            stored_event=(lambda event_id: self._stored_event(index, event_id)),
            stream_version=(lambda stream: index.stream_version(stream)),
            skip_conflicts=skip_conflicts,
        )
        if result.events:
            self._write_events(result.events, durable, index)
        return result

    def _write_events(self, events: list[Event], durable: bool, index: EventIndex | None) -> None:
        data = add_checksums(encode_events(events, self.settings.max_event_bytes)[0])
        self._write_lines(data, events[-1].seq, events[-1].id, durable, index, events)

    def _write_lines(self, data: bytes, last_seq: int, last_id: str, durable: bool, index: EventIndex | None = None,
                     events: list[Event] | None = None) -> None:
        tail = self._tail
        if tail.size >= self.settings.segment_max_bytes and tail.head_seq >= tail.first_seq:
            tail = self._rotate(tail)
        start = tail.size
        try:
            if os.write(self._fd, data) != len(data):
                raise OSError(errno.ENOSPC, "short write")
        except OSError as exc:
            raise LogWriteError(exc.errno, f"appending to {tail.segment.name} failed, {self._roll_back(tail)}: "
                                f"{exc.strerror}") from exc
        end = start + len(data)
        group = durable and self._group.active()
        if group and index is None and self._tickets is not None and self._group.contended():
            self._tickets.append(self._group.wrote(self._fd, tail.segment.name, tail.inode, start, end, last_seq,
                                                   data, last_id))
            durable = None  # the sidecar advances once an fsync covers these bytes
        elif durable:
            self._fsync_or_roll_back(tail)
            if group:
                self._group.synced_inline(tail.inode, end, last_seq, last_id)
        # Recorded before the append is acknowledged: bytes past the recorded end belong to
        # a holder that never finished (see eventlog/tailmark.py), and seqs up to it are never
        # handed out again.
        if durable is not None:
            self._record_tail(tail, end, last_seq, durable and not self._group.boot.trusted())
        self._tail = Tail(tail.segment, tail.first_seq, last_seq, last_id, end, tail.inode)
        if index is not None:  # caught up just before this write: keep it current cheaply
            try:
                index.add(_entries(events, data.splitlines(keepends=True), tail.first_seq, start))
            except _db_error():
                pass  # the events are stored; the index, a cache, catches up from the log later

    def _fsync_or_roll_back(self, tail: Tail) -> None:
        try:
            os.fsync(self._fd)
        except OSError as exc:
            # After a failed fsync the page cache cannot be trusted (PostgreSQL's fsyncgate):
            # remove the bytes, reopen, and do not acknowledge.
            raise SyncFailedError(exc.errno, f"fsync failed, {self._roll_back(tail)}: {exc.strerror}") from exc

    def _record_tail(self, tail: Tail, end: int, last_seq: int, durable: bool) -> None:
        prefix = self._mark_prefix
        if prefix is None or prefix[0] != (tail.segment, tail.inode):
            # "1 <segment> <inode> ", the part that changes only with the segment.
            line = format_mark(TailMark(tail.segment.name, tail.inode, 0, 0))
            prefix = self._mark_prefix = ((tail.segment, tail.inode), line[:-42])
        try:
            self._marks.write_line(prefix[1] + b"%020d %020d\n" % (end, last_seq), durable)
        except OSError as exc:
            raise LogWriteError(exc.errno, f"recording the tail of {tail.segment.name} failed, "
                                f"{self._roll_back(tail)}: {exc.strerror}") from exc

    def _roll_back(self, tail: Tail) -> str:
        """Remove the bytes written after ``tail``; say what became of them."""
        self._group.invalidate()  # waiting writers re-check their own bytes
        try:
            os.ftruncate(self._fd, tail.size)
            os.fsync(self._fd)
            outcome = "the append was rolled back, nothing stored"
        except OSError as exc:
            # The bytes stay for now, and may even be whole lines. The sidecar still ends at
            # the last completed append, so every later holder cuts them as unfinished.
            outcome = (f"nothing acknowledged; removing the partial bytes failed too ({exc.strerror}), so they "
                       "count as a torn tail that the next writer cuts into quarantine")
            try:
                self._marks.write(TailMark(tail.segment.name, tail.inode, tail.size, tail.head_seq), True)
            except OSError:
                pass
        self._forget_tail()
        return outcome

    def close(self) -> None:
        """Close file descriptors; the log may be used again afterwards (it reopens)."""
        self._forget_tail()
        self._group.close()
        self._marks.close()
        self._lock.close()
        if self._ingester_obj is not None:
            self._ingester_obj.close()
        for index in (self._index, self._reader_index):
            if index is not None and self._index_generation in (-1, forks.generation):
                index.close()
        self._index = self._reader_index = None

    def __enter__(self) -> "FileEventLog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _needs_index(prepared: list[Prepared]) -> bool:
    for item in prepared:
        if item.id_given or item.draft.stream is not None:
            return True
    return False


def _as_dict(payload: Mapping[str, Any] | None) -> dict[str, Any]:
    if payload is None:
        return {}
    return payload if type(payload) is dict else dict(payload)


def _entries(events: list[Event], lines: list[bytes], segment: int, start: int) -> list[IndexEntry]:
    from .index import IndexEntry

    out = []
    offset = start
    for event, line in zip(events, lines):
        out.append(IndexEntry(event.seq, event.id, event.stream, segment, offset, offset + len(line)))
        offset += len(line)
    return out


def _db_error() -> type[Exception] | tuple[()]:
    # The index's sqlite is imported only by the code that opens the index: until it is, no
    # sqlite error can have been raised, and an except clause with no class catches nothing.
    sqlite3 = sys.modules.get("sqlite3")
    return sqlite3.Error if sqlite3 is not None else ()
