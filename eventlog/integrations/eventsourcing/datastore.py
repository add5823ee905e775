"""One `.loki/` log seen as the library's tables: a view kept current from the log, and inserts.

The log is the only store. What the recorders select comes from a view in memory, folded
from the log (a BatchScanner resumes where the previous read stopped, so each read costs only
the events appended since), so another process's appends are seen by the next select. Inserts
are optimistic: the uniqueness rules of the library (one event per originator version, tracking
ids rising per upstream application) are checked against the view, and the batch is appended
with ``expected_versions`` naming the view's version of every stream it writes. If another
writer moved one of those streams in between, the log refuses the whole batch, the view
catches up and the check runs again: the rules hold across processes, not only threads.
"""
from __future__ import annotations

import bisect
import threading
import time
from contextlib import contextmanager
from typing import Iterator, Sequence

from eventsourcing.persistence import (
    DataError, Notification, OperationalError, ProgrammingError, StoredEvent, Tracking,
)

from ...config import LogSettings
from ...errors import EventLogError, EventTooLargeError, InvalidEventError, StreamsConflictError
from ...store import FileEventLog
from ...tailmark import read_mark
from . import mapping
from .grouping import Insert, plan_group

#: How often an insert re-checks after another writer moved one of its streams, and for how long.
MAX_ATTEMPTS = 100
MAX_RETRY_SECONDS = 30.0
#: How often a live subscription looks at the log for appends by other processes.
FOLLOW_INTERVAL = 0.05


class _Sequence:
    """The events of one (application, purpose, originator) in the view: version -> stored event."""

    __slots__ = ("events", "ordered")

    def __init__(self) -> None:
        self.events: dict[int, StoredEvent] = {}
        self.ordered = True  # versions arrived in rising order (the usual case: no sort needed)

    def add(self, version: int, event: StoredEvent) -> None:
        if self.events and version < next(reversed(self.events)):
            self.ordered = False
        self.events[version] = event

    def versions(self) -> list[int]:
        return list(self.events) if self.ordered else sorted(self.events)


class _Notifications:
    """One application's notifications, in seq order, with their ids for bisection."""

    __slots__ = ("ids", "items")

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.items: list[Notification] = []


class LokiDatastore:
    """The log of one `.loki/` and the view of it that the recorders of one factory share."""

    def __init__(self, loki_dir=None, settings: LogSettings | None = None, originator_id_type: str = "uuid") -> None:
        self.log = FileEventLog(loki_dir, settings=settings)
        self.originator_id_type = originator_id_type
        self._mutex = threading.RLock()  # one FileEventLog and one scanner are not shared between threads
        self._scanner = self.log.scanner()
        self.last_seq = 0
        self._seen_mark: tuple | None = None  # the tail sidecar as of the last read of the log
        self._stream_versions: dict[str, int] = {}
        self._sequences: dict[tuple[str, str, str], _Sequence] = {}
        self._notifications: dict[str, _Notifications] = {}
        self._tracking: dict[tuple[str, str], int] = {}
        self._queue: list[Insert] = []  # batches waiting for the thread that appends next
        self._queue_lock = threading.Lock()
        self._listeners: set[threading.Event] = set()
        self._follower: threading.Thread | None = None
        self._closed = threading.Event()

    # ----------------------------------------------------------------- the view

    def catch_up(self) -> int:
        """Fold every event appended since the last read into the view; return the head seen."""
        with self._mutex:
            # Readers read the active segment up to the end the tail sidecar records (the
            # commit point of every writer): while it names the same end, nothing was appended.
            mark = read_mark(self.log.paths.tail_file)
            key = None if mark is None else (mark.segment, mark.inode, mark.size, mark.last_seq)
            if key is not None and key == self._seen_mark:
                return self.last_seq
            for batch in self._scanner.batches(self.last_seq + 1):
                for event in batch:
                    self._apply(event)
            self._seen_mark = key  # read before the scan: anything later is read next time
            return self.last_seq

    def _apply(self, event) -> None:
        self.last_seq = event.seq
        stream = event.stream
        if stream is None:
            return
        self._stream_versions[stream] = self._stream_versions.get(stream, 0) + 1
        if event.source != mapping.SOURCE:
            return
        if event.type == mapping.TRACKING_TYPE:
            record = mapping.decode_tracking(event)
            if record is not None:
                key = (record[0], record[1])
                self._tracking[key] = max(record[2], self._tracking.get(key, record[2]))
            return
        decoded = mapping.decode_event(event)
        if decoded is None:
            return  # an event that only looks like ours: not one of the library's records
        originator_id = mapping.originator(decoded.originator_id, self.originator_id_type)
        key = (decoded.app, decoded.purpose, decoded.originator_id)
        sequence = self._sequences.get(key)
        if sequence is None:
            sequence = self._sequences[key] = _Sequence()
        sequence.add(decoded.version, StoredEvent(originator_id, decoded.version, decoded.topic, decoded.state))
        if decoded.purpose == mapping.EVENTS:
            notes = self._notifications.get(decoded.app)
            if notes is None:
                notes = self._notifications[decoded.app] = _Notifications()
            notes.ids.append(event.seq)
            notes.items.append(Notification(
                id=event.seq, originator_id=originator_id, originator_version=decoded.version,
                topic=decoded.topic, state=decoded.state,
            ))

    def select_events(self, app: str, purpose: str, originator_id, gt, lte, desc: bool, limit) -> list[StoredEvent]:
        with self._mutex:
            self.catch_up()
            sequence = self._sequences.get((app, purpose, mapping.id_text(originator_id)))
            if sequence is None:
                return []
            versions = sequence.versions()
            low = 0 if gt is None else bisect.bisect_right(versions, gt)
            high = len(versions) if lte is None else bisect.bisect_right(versions, lte)
            chosen = versions[low:high]
            if desc:
                chosen.reverse()
            if limit is not None:
                chosen = chosen[:max(limit, 0)]
            return [sequence.events[v] for v in chosen]

    def select_notifications(self, app: str, start: int | None, limit: int, stop: int | None,
                             topics: Sequence[str], inclusive_of_start: bool) -> list[Notification]:
        with self._mutex:
            self.catch_up()
            notes = self._notifications.get(app)
            if notes is None or limit <= 0:
                return []
            if start is None:
                low = 0
            else:
                low = (bisect.bisect_left if inclusive_of_start else bisect.bisect_right)(notes.ids, start)
            high = len(notes.ids) if stop is None else bisect.bisect_right(notes.ids, stop)
            if not topics:
                return notes.items[low:min(high, low + limit)]
            wanted = set(topics)
            found = []
            for item in notes.items[low:high]:
                if item.topic in wanted:
                    found.append(item)
                    if len(found) == limit:
                        break
            return found

    def max_notification_id(self, app: str) -> int | None:
        with self._mutex:
            self.catch_up()
            notes = self._notifications.get(app)
            return notes.ids[-1] if notes and notes.ids else None

    def max_tracking_id(self, app: str, upstream: str) -> int | None:
        with self._mutex:
            self.catch_up()
            return self._tracking.get((app, upstream))

    # ----------------------------------------------------------------- inserting

    def insert(self, app: str, purpose: str, stored_events: Sequence[StoredEvent],
               tracking: Tracking | None = None) -> list[int]:
        """Append the records as one atomic batch; return their notification ids (seqs).

        Threads that insert while another one is appending queue their batches, and the next
        thread to get the log commits every queued batch in one append (one write, one fsync):
        group commit. Each batch is still all or nothing, and is checked as if the batches
        queued before it had been stored first.
        """
        request = Insert(app, purpose, stored_events, tracking)
        if not request.drafts:
            return []
        with self._queue_lock:
            self._queue.append(request)
        with self._mutex:
            if not request.done:  # nobody took it while we waited: commit everything queued
                with self._queue_lock:
                    group, self._queue = self._queue, []
                self._commit(group)
        if request.error is not None:
            raise request.error
        return request.seqs

    def _commit(self, group: list[Insert]) -> None:
        deadline = time.monotonic() + MAX_RETRY_SECONDS
        try:
            for attempt in range(MAX_ATTEMPTS):
                if attempt:
                    # No catch-up before the first attempt: if the view is behind on a stream
                    # of these batches, the log refuses them (its version moved), and a view
                    # up to date on every stream they write is all the checks below need.
                    self.catch_up()
                chosen = plan_group(group, self._sequences, self._tracking, self._stream_versions)
                if chosen.drafts:
                    try:
                        with library_errors():
                            receipts = self.log.append_many(chosen.drafts, expected_versions=chosen.expected)
                    except StreamsConflictError:
                        if time.monotonic() > deadline:
                            break
                        continue  # another writer moved a stream of ours: look again
                    chosen.finish(receipts)
                    self.catch_up()
                    self._notify()
                else:
                    chosen.finish([])
                return
            error: Exception = OperationalError(
                f"other writers kept moving the same streams; gave up after {MAX_ATTEMPTS} attempts")
        except Exception as exc:  # handed to the inserting threads, raised there
            if len(group) > 1:
                # One batch's error must not fail the others queued with it: each alone.
                for request in group:
                    if not request.done:
                        self._commit([request])
                return
            error = exc
        for request in group:
            if not request.done:
                request.fail(error)

    # ----------------------------------------------------------------- following

    def listen(self, event: threading.Event) -> None:
        with self._mutex:
            self._listeners.add(event)
            if self._follower is None or not self._follower.is_alive():
                self._follower = threading.Thread(target=self._follow, name="lokilog-eventsourcing-follow",
                                                  daemon=True)
                self._follower.start()

    def unlisten(self, event: threading.Event) -> None:
        with self._mutex:
            self._listeners.discard(event)

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener.set()

    def _follow(self) -> None:
        # The log's own follow, as `lokilog tail -f`: read what was appended since, at an interval.
        # Appends made through this datastore notify at once; this sees other processes'.
        while not self._closed.wait(FOLLOW_INTERVAL):
            with self._mutex:
                if not self._listeners:
                    self._follower = None
                    return
                before = self.last_seq
                try:
                    head = self.catch_up()
                except EventLogError:
                    head = before  # a damaged log: a select reports it to the subscriber
            if head != before:
                self._notify()

    def close(self) -> None:
        self._closed.set()
        follower = self._follower
        if follower is not None and follower is not threading.current_thread():
            follower.join(timeout=5)
        with self._mutex:
            self.log.close()


@contextmanager
def library_errors() -> Iterator[None]:
    """Raise lokilog's errors as the library's persistence errors (conflicts pass through)."""
    try:
        yield
    except StreamsConflictError:
        raise
    except EventTooLargeError as exc:
        raise DataError(str(exc)) from exc
    except InvalidEventError as exc:
        raise ProgrammingError(str(exc)) from exc
    except (EventLogError, OSError) as exc:  # the lock bound passed, a full disk, a damaged log
        raise OperationalError(str(exc)) from exc
