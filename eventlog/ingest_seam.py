"""The seam between the store and the ingester of the drop box and Loki Mode's files.

The ingester (`eventlog.legacy.ingest`) writes into the log from inside the store's own lock, so
it needs a few calls that ordinary writers must not make. They are named here, as a protocol the
store implements, rather than reached through the store's private names; the ingester depends on
this module only, never on the store, and the store imports the ingester only when it first
ingests.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator, Protocol

if TYPE_CHECKING:  # pragma: no cover - names for annotations only
    from .pending import BadPendingFile
    from .appends import Prepared
    from .config import LogSettings
    from .events import Event
    from .index import EventIndex
    from .layout import LokiPaths
    from .segments import Tail


class IngestReport:
    """What one pass over the drop box did."""

    def __init__(self) -> None:
        self.ingested: int = 0
        self.duplicates: int = 0
        self.bad: list[BadPendingFile] = []
        self.twins: int = 0  # second copies of one event (emit.sh writes a file and a flat line)
        self.flat_lines: int = 0  # lines read from Loki Mode's flat events.jsonl files
        self.files_read: int = 0


class LockedLog(Protocol):
    """What the ingester may call on the log, always with the log lock held."""

    paths: "LokiPaths"
    settings: "LogSettings"

    def write_locked(self, prepared: "list[Prepared]", durable: bool, skip_conflicts: bool = False,
                     expected: dict[str, int] | None = None) -> Any:
        """Append prepared events under the held lock (the store's one write path)."""

    def current_tail(self) -> "Tail":
        """The log's tail as of now, re-read if another process moved it."""

    def caught_up_index(self, limit: int | None = None) -> "EventIndex":
        """The id index, brought up to the tail (or to `limit`)."""

    def get(self, seq: int) -> "Event | None":
        """The event at `seq`."""

    def read(self, start: int = 1, end: int | None = None, **options: Any) -> "Iterator[Event]":
        """The events from `start` to `end`."""
