"""FileEventLog: the durable, append-only log in `.loki/events/log/`.

Appends take the log lock with a bounded wait, read the tail to assign the next seq, write
whole lines in one go and (by default) fsync before acknowledging. A writer that cannot get
the lock in time drops its events into the pending drop box instead. Reads never lock.
"""
from __future__ import annotations

import errno
import itertools
import os
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping

from . import forks, plainbatch
from .conditional import check_expected_versions, enforce_expected_versions
from .appends import Prepared, Receipt, complete, plan, prepare
from .codec import add_checksums, check_name, check_payload, encode_event, encode_events
from .config import Durability, LogSettings
from .coverage import cover_tail
from .errors import (
    EventLogError, InvalidEventError, LegacyIngestError, LockTimeoutError, LogCorruptedError,
    SyncFailedError,
)
from .events import FORMAT_VERSION, Event, NewEvent, RawEvent, new_event_id, now_timestamp
from .groupcommit import GroupCommit
from .fsutil import fsync_dir, make_dirs
from .ingest_watch import ChangeWatch
from .ingest_seam import IngestReport  # noqa: F401 - defined there, imported from here by callers
from .layout import LokiPaths, resolve_loki_dir
from .locking import LogLock
from .safeio import check_contained
from .verify import high_water_mark, rewind_cursors
from .segments import Tail, TailCut, cut_unfinished, find_tail, is_sealed, list_segments, seal, segment_name
from .tailmark import MarkWriter, TailMark, format_mark, read_mark

_DROP_BOX_INTERVAL_NS = 5_000_000  # as eventlog/legacy/ingest.py's own throttle, across processes

# Loaded where used: an append with a fresh id (what `lokilog emit` does once per process)
# needs neither the index and its sqlite, nor the reader, filters or drop box.
if TYPE_CHECKING:  # pragma: no cover
    from .filters import EventFilter
    from .index import EventIndex, IndexEntry
    from .pending import BadPendingFile
    from .reader import OnBadLine

class LogWriteError(EventLogError, OSError):
    """Writing to the log failed (a full disk, an I/O error); nothing was acknowledged.

    The partial bytes were removed, or, if even that failed (the message says so), they count
    as a torn tail that the next lock holder cuts into quarantine.
    """


class LogTruncatedError(LogCorruptedError):
    """The log ends before events that were already seen: acknowledged events were lost."""


class FileEventLog:
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

    # ------------------------------------------------------------------ the tail

    def _current_tail(self) -> Tail:
        tail = self._tail
        if tail is not None and self._fd is not None and self._generation == forks.generation:
            # Segments are never replaced, only appended, cut by a lock holder, sealed or
            # (once sealed) compressed away: fstat on our descriptor sees all of that.
            st = os.fstat(self._fd)
            if st.st_nlink and not is_sealed(st.st_mode):
                if st.st_size == tail.size:
                    return tail
                followed = self._group.follow(tail.inode, st.st_size)  # other group-commit writers
                if followed is not None:
                    self._tail = Tail(tail.segment, tail.first_seq, *followed, st.st_size, tail.inode)
                    return self._tail
                return self._load_tail(tail.segment, tail.first_seq, reuse_fd=True)
        self._forget_tail()
        return self._load_active()

    def _load_active(self) -> Tail:
        segments = list_segments(self.paths.log_dir)
        if not segments:
            self._check_high_water(0)
            make_dirs(self.paths.log_dir)
            return self._create_segment(1)
        active = segments[-1]
        if active.compressed:
            raise LogCorruptedError(f"{active.path}: the newest segment is compressed; only sealed ones may be")
        tail = self._load_tail(active.path, active.first_seq, reuse_fd=False)
        self._check_high_water(tail.head_seq)
        if is_sealed(os.stat(active.path).st_mode):
            # A rotation was interrupted after sealing: finish it (its checksum included).
            seal(active.path)
            return self._create_segment(tail.head_seq + 1)
        return tail

    def _check_high_water(self, head_seq: int, seen: int | None = None) -> None:
        # Whole lines lost at the end leave a log that parses perfectly. Appending to it would
        # hand out seqs that cursors and snapshots already saw, so consumers would skip the new
        # events forever: refuse until someone accepts the loss (`lokilog verify --fix`).
        seen = high_water_mark(self.paths) if seen is None else seen
        if seen > head_seq:
            raise LogTruncatedError(
                f"the log ends at seq {head_seq} but seq {seen} was stored before: "
                "acknowledged events were lost or the log was replaced. Run `lokilog verify` for "
                "details; `lokilog verify --fix` accepts the loss and re-indexes"
            )

    def _load_tail(self, segment: Path, first_seq: int, reuse_fd: bool) -> Tail:
        if not reuse_fd or self._fd is None:
            self._close_fd()
            self._fd = _open_segment(segment, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
            self._generation = forks.generation
        self._marks.refresh()
        mark = read_mark(self.paths.tail_file)
        inode = os.fstat(self._fd).st_ino
        before = len(self.cuts)
        if mark is not None and mark.segment == segment.name and mark.inode == inode:
            # Past the sidecar and past every complete append still waiting for its fsync.
            end = self._group.vouched_end(inode, mark.size, mark.last_seq)
            cut = None if end is None else cut_unfinished(self._fd, segment, first_seq, *end, self.paths.quarantine)
            if cut is not None:
                self.cuts.append(cut)
        tail, cuts = find_tail(self._fd, segment, first_seq, self.paths.quarantine)
        self.cuts.extend(cuts)
        if len(self.cuts) != before:
            self._group.invalidate()
        if not self._group.boot.trusted():
            self._group.adopt_boot(self._fd, segment.name, tail.inode, tail.size, tail.head_seq)
        try:
            cover_tail(self._fd, self.paths.log_dir, first_seq, tail.size)  # lines bash wrote
        except OSError:
            pass  # only coverage is lost: verify counts those lines as not covered
        if mark is not None:
            self._check_high_water(tail.head_seq, mark.last_seq)
        self._tail = tail
        return tail

    def _create_segment(self, first_seq: int) -> Tail:
        self._close_fd()
        path = self.paths.log_dir / segment_name(first_seq)
        self._fd = _open_segment(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC)
        self._generation = forks.generation
        fsync_dir(self.paths.log_dir)
        tail = self._load_tail(path, first_seq, reuse_fd=True)
        if tail.size == 0:
            # Name the new segment in the sidecar before any byte goes into it: a writer killed
            # inside the first append to it leaves bytes past a recorded end of 0, which the next
            # holder cuts whole as unfinished (with the old segment's mark it would keep the
            # complete lines of a half-written batch).
            self._record_tail(tail, 0, first_seq - 1, durable=False)
        return tail

    def _rotate(self, tail: Tail) -> Tail:
        # Seal first, then create the successor: a crash in between leaves a sealed newest
        # segment, which the next writer notices and finishes; the other order would let a
        # stale writer keep appending to the old segment.
        os.fsync(self._fd)
        seal(tail.segment)
        return self._create_segment(tail.head_seq + 1)

    def _forget_tail(self) -> None:
        self._close_fd()
        self._tail = None

    def _close_fd(self) -> None:
        if self._fd is not None and self._generation == forks.generation:
            os.close(self._fd)
        self._fd = None

    # ----------------------------------------------------------------- the index

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

    # --------------------------------------------------------------- the drop box

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
        if not force and throttle and self._group.drop_box_checked(_DROP_BOX_INTERVAL_NS):
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

    # ------------------------------------------------------------------ reading

    def read(
        self,
        from_seq: int = 1,
        to_seq: int | None = None,
        *,
        filter: EventFilter | None = None,
        types: Iterable[str] = (),
        sources: Iterable[str] = (),
        streams: Iterable[str] = (),
        since: str | None = None,
        until: str | None = None,
        where: Iterable[str] = (),
        ingest: bool = True,
        on_bad_line: OnBadLine | None = None,
        checksums: bool = False,
    ) -> Iterator[Event]:
        """Iterate stored events in seq order, streaming, with optional filters.

        ``checksums`` checks every line's crc as it is read (ChecksumError on a mismatch).
        """
        from .filters import EventFilter
        from .reader import scan

        _check_range(from_seq, to_seq)
        selection = filter or EventFilter.build(types, sources, streams, since, until, where)
        if ingest:
            self._ingest_if_free()
        events = scan(self.paths.log_dir, from_seq, to_seq, index=self._read_index(), on_bad_line=on_bad_line,
                      checksums=checksums)
        if selection.empty:
            return events
        return (e for e in events if selection.matches(e))

    def read_raw(
        self, from_seq: int = 1, to_seq: int | None = None, *, filter: EventFilter | None = None,
        on_bad_line: OnBadLine | None = None,
    ) -> Iterator[RawEvent]:
        """Iterate events with undecoded payloads: the fast path for scans over the envelope."""
        from .reader import scan

        _check_range(from_seq, to_seq)
        if filter is not None and filter.needs_payload:
            raise InvalidEventError("read_raw filters on the envelope only; use read() for --where")
        events = scan(self.paths.log_dir, from_seq, to_seq, raw=True, index=self._read_index(), on_bad_line=on_bad_line)
        if filter is None or filter.empty:
            return events
        return (e for e in events if filter.matches_envelope(e))

    def read_batches(self, from_seq: int = 1, to_seq: int | None = None, *,
                     on_bad_line: OnBadLine | None = None) -> Iterator[list[Event]]:
        """Iterate stored events as lists (one per chunk read), in seq order: the fast path for folds."""
        _check_range(from_seq, to_seq)
        return self.scanner(on_bad_line).batches(from_seq, to_seq)

    def scanner(self, on_bad_line: OnBadLine | None = None):
        """Return a BatchScanner: batch reads that resume where the previous one stopped."""
        from .reader import BatchScanner

        return BatchScanner(self.paths.log_dir, self._read_index(), on_bad_line)

    def get(self, seq: int) -> Event | None:
        """Return the event at ``seq``, or None."""
        for event in self.read(seq, seq, ingest=False):
            return event
        return None

    @property
    def head_seq(self) -> int:
        """The seq of the newest complete event (0 for an empty log); takes no lock."""
        segments = list_segments(self.paths.log_dir)
        if not segments:
            return 0
        newest = segments[-1]
        if newest.compressed:
            raise LogCorruptedError(f"{newest.path}: the newest segment is compressed; only sealed ones may be")
        from .reader import committed_end

        with newest.open() as handle:
            # Up to the last completed append: an unfinished one may still be cut.
            mark = read_mark(self.paths.tail_file)
            if mark is not None and committed_end(self.paths.log_dir, newest, handle.fileno()) is not None:
                return mark.last_seq
            tail, _ = find_tail(handle.fileno(), newest.path, newest.first_seq, quarantine=None)
        return tail.head_seq

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

    def _read_index(self) -> EventIndex | None:
        # Only seek marks are read from it, and each is checked against the file it names.
        if self._reader_index is None and self.paths.index_file.exists():
            try:
                from .index import EventIndex

                self._reader_index = EventIndex(self.paths.index_file, readonly=True)
            except Exception:
                return None
        return self._reader_index

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


def _open_segment(path: Path, flags: int) -> int:
    # Never through a link: a segment linked to a file elsewhere would be cut and written to.
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LogCorruptedError(f"{path}: is a symbolic link; lokilog appends only to its own files") from None
        if exc.errno in (errno.EISDIR, errno.ENXIO, errno.ENODEV, errno.EOPNOTSUPP):
            raise LogCorruptedError(f"{path}: is not a regular file; lokilog appends only to its own files") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # a FIFO would block the first read of the tail
        os.close(fd)
        raise LogCorruptedError(f"{path}: is not a regular file; lokilog appends only to its own files")
    os.set_blocking(fd, True)  # only there for the open: appends to a regular file never block anyway
    return fd


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


def _check_range(from_seq: int, to_seq: int | None) -> None:
    if not isinstance(from_seq, int) or from_seq < 1:
        raise InvalidEventError(f"from_seq must be an integer >= 1, got {from_seq!r}")
    if to_seq is not None and (not isinstance(to_seq, int) or to_seq < from_seq):
        raise InvalidEventError(f"to_seq {to_seq!r} must be an integer >= from_seq {from_seq}")
