"""Subscribers: consumers with side effects, each driven by its own durable cursor.

Replays and rebuilds never drive a subscriber: only :func:`drain` does, from the subscriber's
own cursor, so a projection rebuild repeats no side effect.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol, runtime_checkable

from eventlog import Event, FileEventLog

from .cursor import Cursor, CursorRecord

_log = logging.getLogger("lokilog.subscribers")


@runtime_checkable
class Subscriber(Protocol):
    """A consumer of events. ``handle`` raises to have the event redelivered later."""

    name: str

    def handle(self, event: Event) -> None:
        """Perform the side effect for one event (idempotent by ``event.id``)."""


def drain(loki_dir: Path, subscriber: Subscriber, limit: int | None = None, *,
          log: FileEventLog | None = None, check: bool = True) -> int:
    """Deliver events after the subscriber's cursor, committing after each; return how many.

    With ``check`` (the default) a cursor ahead of the log, or pointing at an event the log no
    longer holds, is reported (logged as a warning) and rewound first: see :func:`check_cursor`.
    """
    cursor = Cursor(loki_dir, subscriber.name)
    opened = log if log is not None else FileEventLog(loki_dir)
    try:
        record = cursor.load()
        start = (check_cursor(opened, cursor, record) if check else record.seq) + 1
        delivered = 0
        for event in opened.read(start):
            subscriber.handle(event)
            cursor.commit(event.seq, event.id)
            delivered += 1
            if limit is not None and delivered >= limit:
                break
        return delivered
    finally:
        if log is None:
            opened.close()


def check_cursor(log: FileEventLog, cursor: Cursor, record: CursorRecord | None = None) -> int:
    """Return the seq to resume after, rewinding a cursor the log does not back up.

    A cursor past the log's head (the log lost its tail) would skip the events that will be
    appended at those seqs: it is rewound to the head. A cursor whose seq now holds another
    event (the log was replaced) is rewound to 0: every event is delivered again, which the
    subscriber's idempotency by event id absorbs (at-least-once delivery).
    """
    record = cursor.load() if record is None else record
    if not record.seq:
        return 0
    head = log.head_seq
    if record.seq > head:
        _log.warning("subscriber %s: its cursor is at seq %d but the log ends at seq %d (the log lost "
                     "its tail); rewinding it to %d", cursor.name, record.seq, head, head)
        cursor.commit(head, None)
        return head
    if record.id is not None:
        event = log.get(record.seq)
        if event is None or event.id != record.id:
            _log.warning("subscriber %s: the event at seq %d is not the one it handled (the log was "
                         "rewritten); delivering every event again", cursor.name, record.seq)
            cursor.commit(0, None)
            return 0
    return record.seq
