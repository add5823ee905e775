"""The live tail: one poller follows the log and fans new events out to every SSE client.

The poller checks cheap stats (the log directory, the newest segment's size, the drop box)
every few milliseconds and reads only when one changed. Each client has a bounded queue; a
client that falls that far behind is disconnected and resumes with Last-Event-ID, so being
slow costs it a reconnect, never an event.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import msgspec

from eventlog import Event, EventFilter, EventLogError, FileEventLog
from eventlog.tailmark import read_mark

_log = logging.getLogger(__name__)

_encoder = msgspec.json.Encoder()
_READ_CHUNK = 2000
#: Events indexed per step (about half a second of holding the log lock), and how often to look.
INDEX_STEP = 50_000
INDEX_EVERY = 1.0


def encode(event: Event) -> str:
    """The event as JSON, as stored (unknown top-level fields included)."""
    return _encoder.encode(event.to_dict() if event.extra else event).decode()


def encode_many(events: list[Event]) -> bytes:
    """A JSON array of events in one encoder call (the common case: no unknown top-level fields)."""
    if any(e.extra for e in events):
        return _encoder.encode([e.to_dict() for e in events])
    return _encoder.encode(events)


@dataclass(eq=False)
class Subscriber:
    queue: asyncio.Queue  # unbounded: ``limit`` bounds it, leaving room for the end marker
    filter: EventFilter
    started_at: int
    limit: int
    overflowed: bool = False

    def offer(self, item: tuple[int, Event, str]) -> None:
        if self.overflowed:
            return
        if self.queue.qsize() >= self.limit:
            # Too far behind: end its stream after what it already has (a gapless prefix);
            # the client reconnects from its last seq and reads the rest from the log.
            self.overflowed = True
            self.queue.put_nowait(None)
            return
        self.queue.put_nowait(item)


@dataclass
class Tail:
    loki_dir: Path
    interval: float = 0.005
    queue_size: int = 10_000
    position: int = 0
    subscribers: set = field(default_factory=set)
    broadcast: int = 0
    indexed: int = 0

    def __post_init__(self) -> None:
        self.log = FileEventLog(self.loki_dir)
        self.position = self.log.head_seq
        self._stamp = None

    def subscribe(self, selection: EventFilter) -> Subscriber:
        sub = Subscriber(asyncio.Queue(), selection, self.position, self.queue_size)
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    async def run(self, stop: asyncio.Event) -> None:
        next_index = 0.0
        while not stop.is_set():
            if self.indexed < self.position and time.monotonic() >= next_index:
                await asyncio.to_thread(self._index_step)
                next_index = time.monotonic() + (0.05 if self.indexed < self.position else INDEX_EVERY)
            try:
                await asyncio.wait_for(stop.wait(), self.interval)
                return
            except asyncio.TimeoutError:
                pass
            stamp = self._changes()
            if stamp == self._stamp:
                continue
            try:
                events = await asyncio.to_thread(self._read_new)
            except (EventLogError, OSError) as exc:
                # Keep serving: the next change (or a repair) lets it read on; clients lose nothing
                # because each resumes from its own last seq.
                _log.warning("live tail: cannot read past seq %d: %s", self.position, exc)
                continue
            self._stamp = stamp
            for event in events:
                item = (event.seq, event, encode(event))
                for sub in list(self.subscribers):
                    sub.offer(item)
                self.position = event.seq
            self.broadcast += len(events)
            if len(events) >= _READ_CHUNK:
                self._stamp = None  # more to read: look again next tick

    def _changes(self) -> tuple:
        paths = self.log.paths
        stamp: list = []
        for path in (paths.log_dir, paths.pending):
            try:
                stamp.append(os.stat(path).st_mtime_ns)
            except FileNotFoundError:
                stamp.append(None)
        try:
            newest = max(os.listdir(paths.log_dir)) if stamp[0] is not None else None
        except ValueError:
            newest = None
        if newest is not None:
            try:
                info = os.stat(paths.log_dir / newest)
                stamp += [newest, info.st_size, info.st_mtime_ns]
            except FileNotFoundError:
                pass
        # Under group commit the segment grows before the sidecar admits its lines to readers
        # (eventlog/groupcommit.py): a read in between finds nothing, so the sidecar's own
        # change must wake the next read.
        # Its content, not its mtime: two rewrites within one clock tick share an mtime.
        stamp.append(read_mark(paths.tail_file))
        return tuple(stamp)

    def _index_step(self) -> None:
        # Replay pages seek by the log's index; appends without ids or streams leave it behind,
        # so the tail keeps it current, a bounded step at a time, never waiting for the lock.
        try:
            self.indexed = self.log.refresh_index(timeout=0, max_events=INDEX_STEP)
        except (EventLogError, OSError) as exc:
            _log.debug("live tail: index not refreshed: %s", exc)

    def _read_new(self) -> list[Event]:
        return list(islice(self.log.read(self.position + 1), _READ_CHUNK))

    def history(self, after: int, upto: int, selection: EventFilter) -> list[Event]:
        """Events after ``after`` up to ``upto`` (one chunk), for a client catching up."""
        # Its own log object: this runs on a pool thread beside the poller's reads.
        with FileEventLog(self.loki_dir) as log:
            return list(islice(log.read(after + 1, upto, ingest=False), _READ_CHUNK))

    def close(self) -> None:
        self.log.close()
