"""Durable subscriber cursors: `.loki/events/cursors/<name>.json` holds the last handled seq.

A cursor is committed only after its event's side effect is done (at-least-once delivery);
the event id is the idempotency key a subscriber gives the outside world, so a redelivery
after a crash is recognised there. Cursor files are also high-water marks: `lokilog verify`
reports a log that ends before a cursor.
"""
from __future__ import annotations

import re
from pathlib import Path

import msgspec

from eventlog import InvalidEventError, LokiPaths
from eventlog.fsutil import atomic_write
from eventlog.safeio import read_small

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class CursorRecord(msgspec.Struct):
    seq: int = 0
    id: str | None = None


class Cursor:
    """One consumer's durable position in the log."""

    def __init__(self, loki_dir: Path, name: str) -> None:
        if not _NAME.fullmatch(name):
            raise InvalidEventError(f"cursor name {name!r} must be 1-100 of letters, digits, . _ -")
        self.name = name
        self.path = LokiPaths(Path(loki_dir)).cursors / f"{name}.json"

    def load(self) -> CursorRecord:
        """Return the committed position (seq 0 when the consumer never ran)."""
        try:
            return msgspec.json.decode(read_small(self.path, json_depth_limit=None), type=CursorRecord)
        except FileNotFoundError:
            return CursorRecord()

    @property
    def seq(self) -> int:
        return self.load().seq

    def commit(self, seq: int, event_id: str | None = None) -> None:
        """Durably record that every event up to ``seq`` was handled."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, msgspec.json.encode(CursorRecord(seq, event_id)))
