"""Subscribers: consumers with side effects, each driven by its own durable cursor."""
from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

from eventlog import Event, FileEventLog

from .cursor import Cursor


@runtime_checkable
class Subscriber(Protocol):
    """A consumer of events. ``handle`` raises to have the event redelivered later."""

    name: str

    def handle(self, event: Event) -> None:
        """Perform the side effect for one event (idempotent by ``event.id``)."""


def drain(loki_dir: Path, subscriber: Subscriber, limit: int | None = None) -> int:
    """Deliver events after the subscriber's cursor, committing after each; return how many."""
    cursor = Cursor(loki_dir, subscriber.name)
    delivered = 0
    with FileEventLog(loki_dir) as log:
        for event in log.read(cursor.seq + 1):
            subscriber.handle(event)
            cursor.commit(event.seq, event.id)
            delivered += 1
            if limit is not None and delivered >= limit:
                break
    return delivered
