"""MemoryEventLog: the same append/read contract as FileEventLog, in memory, for tests and models."""
from __future__ import annotations

import threading
from typing import Any, Iterable, Iterator, Mapping

from .appends import Receipt, plan, prepare
from .codec import DEFAULT_MAX_EVENT_BYTES, encode_event
from .conditional import check_expected_versions, enforce_expected_versions
from .errors import InvalidEventError
from .events import Event, NewEvent
from .filters import EventFilter


class MemoryEventLog:
    """An event log held in a list; appends are validated and planned exactly as on disk."""

    def __init__(self, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self._events: list[Event] = []
        self._ids: dict[str, int] = {}
        self._streams: dict[str, int] = {}
        self._max = max_event_bytes
        self._mutex = threading.Lock()

    def append(self, type: str, source: str, payload: Mapping[str, Any] | None = None, **fields: Any) -> Receipt:
        """Append one event (same keyword arguments as FileEventLog.append)."""
        fields.pop("durability", None)
        draft = NewEvent(type=type, source=source, payload=dict(payload or {}), **fields)
        return self.append_many([draft])[0]

    def append_many(self, drafts: Iterable[NewEvent | Mapping[str, Any]], *,
                    expected_versions: Mapping[str, int] | None = None, **_: Any) -> list[Receipt]:
        """Append a batch, all or nothing (``expected_versions`` as for FileEventLog.append_many)."""
        prepared = [prepare(d) for d in drafts]
        expected = check_expected_versions(expected_versions) if expected_versions else None
        with self._mutex:
            if expected and prepared:
                enforce_expected_versions(expected, lambda stream: self._streams.get(stream, 0))
            result = plan(
                prepared,
                len(self._events),
                stored_event=lambda event_id: self._by_id(event_id),
                stream_version=lambda stream: self._streams.get(stream, 0),
            )
            for event in result.events:
                encode_event(event, self._max)  # the same size and encoding rules as the file log
            for event in result.events:
                self._events.append(event)
                self._ids.setdefault(event.id, event.seq)
                if event.stream is not None:
                    self._streams[event.stream] = self._streams.get(event.stream, 0) + 1
            return result.receipts

    def _by_id(self, event_id: str) -> Event | None:
        seq = self._ids.get(event_id)
        return None if seq is None else self._events[seq - 1]

    def read(self, from_seq: int = 1, to_seq: int | None = None, *, filter: EventFilter | None = None,
             **selection: Any) -> Iterator[Event]:
        """Iterate events in seq order with the same filters as FileEventLog.read."""
        if from_seq < 1 or (to_seq is not None and to_seq < from_seq):
            raise InvalidEventError(f"bad seq range {from_seq}..{to_seq}")
        selection.pop("ingest", None)
        selection.pop("on_bad_line", None)
        chosen = filter or EventFilter.build(**selection)
        stop = len(self._events) if to_seq is None else min(to_seq, len(self._events))
        for event in self._events[from_seq - 1 : stop]:
            if chosen.matches(event):
                yield event

    def get(self, seq: int) -> Event | None:
        return self._events[seq - 1] if 1 <= seq <= len(self._events) else None

    @property
    def head_seq(self) -> int:
        return len(self._events)

    def stream_version(self, stream: str) -> int:
        return self._streams.get(stream, 0)

    def close(self) -> None:
        """Nothing to release."""
