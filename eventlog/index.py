"""A persistent, rebuildable index of the log: ids, stream versions and sparse seek marks.

It lets a fresh process (every CLI call is one) answer "is this id stored?", "what version is
stream S at?" and "where does seq N start?" without scanning history. It is a cache of the
log, never a source of truth: it records the position it has indexed up to, and anything that
disagrees with the log is dropped and rebuilt from the log.
"""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Iterable

import msgspec

#: One seek mark every this many events (plus one at every segment start).
MARK_EVERY = 1024
_SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ids (id TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS streams (stream TEXT PRIMARY KEY, version INTEGER NOT NULL,
                                    last_seq INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS marks (seq INTEGER PRIMARY KEY, segment INTEGER NOT NULL,
                                  offset INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
"""


def readonly_uri(path: Path) -> str:
    """A read-only SQLite URI for ``path``, quoted: a `#` or `?` in a directory name would
    otherwise end the path and open some other file.

    On a read-only file system SQLite cannot make the WAL's shared-memory file, so the file is
    opened as immutable there (writes still in the WAL are not seen: it is a cache of the log).
    """
    uri = path.resolve().as_uri() + "?mode=ro"
    if not os.access(path.parent, os.W_OK):
        uri += "&immutable=1"
    return uri


class IndexedPosition(msgspec.Struct, frozen=True):
    """The last event the index has seen: its seq, id, segment and byte offset."""

    seq: int = 0
    id: str | None = None
    segment: int = 0
    offset: int = 0
    end: int = 0


class IndexEntry(msgspec.Struct, frozen=True):
    """What the index needs to know about one stored event."""

    seq: int
    id: str
    stream: str | None
    segment: int
    offset: int
    end: int


class EventIndex:
    """The SQLite file `.loki/events/index.sqlite`; only a holder of the log lock writes it."""

    def __init__(self, path: Path, readonly: bool = False) -> None:
        self.path = path
        self._db = self._open(readonly)

    def _open(self, readonly: bool) -> sqlite3.Connection:
        if readonly:
            db = sqlite3.connect(readonly_uri(self.path), uri=True, timeout=1.0, check_same_thread=False)
        else:
            db = sqlite3.connect(self.path, timeout=5.0, isolation_level=None, check_same_thread=False)
            # A rebuildable cache: losing its last writes to power loss is harmless, so it
            # skips fsync; the log is synced before the index is told about it.
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=OFF")
            db.executescript(_SCHEMA)
            if self._meta(db, "schema") != _SCHEMA_VERSION:
                self._clear(db)
                self._set_meta(db, {"schema": _SCHEMA_VERSION})
        return db

    def close(self) -> None:
        self._db.close()

    def position(self) -> IndexedPosition:
        """Return the position the index has caught up to."""
        rows = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        if not rows.get("seq"):
            return IndexedPosition()
        return IndexedPosition(rows["seq"], rows.get("id"), rows["segment"], rows["offset"], rows["end"])

    def max_seen_seq(self) -> int:
        """Return the highest seq this index has ever recorded, even across resets."""
        value = self._meta(self._db, "max_seen")
        return int(value or 0)

    def lookup_id(self, event_id: str) -> int | None:
        """Return the seq stored under an id, if any."""
        row = self._db.execute("SELECT seq FROM ids WHERE id = ?", (event_id,)).fetchone()
        return row[0] if row else None

    def stream_version(self, stream: str) -> int:
        """Return how many events a stream has (0 for a stream never written)."""
        row = self._db.execute("SELECT version FROM streams WHERE stream = ?", (stream,)).fetchone()
        return row[0] if row else 0

    def seek(self, seq: int) -> tuple[int, int, int] | None:
        """Return (seq, segment first seq, byte offset) of the nearest mark at or before seq."""
        return self._db.execute(
            "SELECT seq, segment, offset FROM marks WHERE seq <= ? ORDER BY seq DESC LIMIT 1", (seq,)
        ).fetchone()

    def add(self, entries: Iterable[IndexEntry]) -> None:
        """Record events appended after the indexed position, in one transaction."""
        last: IndexEntry | None = None
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            ids, marks, streams = [], [], {}
            for entry in entries:
                ids.append((entry.id, entry.seq))
                if entry.seq % MARK_EVERY == 1 or entry.seq == entry.segment:
                    marks.append((entry.seq, entry.segment, entry.offset))
                if entry.stream is not None:
                    count = streams[entry.stream][0] if entry.stream in streams else 0
                    streams[entry.stream] = (count + 1, entry.seq)
                last = entry
            # OR IGNORE: the first occurrence of an id is the one idempotent appends return.
            db.executemany("INSERT OR IGNORE INTO ids VALUES (?, ?)", ids)
            db.executemany("INSERT OR REPLACE INTO marks VALUES (?, ?, ?)", marks)
            for stream, (count, last_seq) in streams.items():
                db.execute(
                    "INSERT INTO streams VALUES (?, ?, ?) ON CONFLICT(stream) DO UPDATE SET "
                    "version = version + excluded.version, last_seq = excluded.last_seq",
                    (stream, count, last_seq),
                )
            if last is not None:
                self._set_meta(db, {
                    "seq": last.seq, "id": last.id, "segment": last.segment,
                    "offset": last.offset, "end": last.end,
                    "max_seen": max(last.seq, int(self._meta(db, "max_seen") or 0)),
                })
            db.execute("COMMIT")
        except BaseException:
            # A failed COMMIT (a full disk) may already have ended the transaction: a blind
            # ROLLBACK would then hide the real error behind "no transaction is active".
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def reset(self, keep_max_seen: bool = True) -> None:
        """Forget everything indexed (the log is re-read from seq 1)."""
        max_seen = self.max_seen_seq() if keep_max_seen else 0
        self._clear(self._db)
        self._set_meta(self._db, {"schema": _SCHEMA_VERSION, "max_seen": max_seen})

    @staticmethod
    def _clear(db: sqlite3.Connection) -> None:
        for table in ("ids", "streams", "marks", "meta"):
            db.execute(f"DELETE FROM {table}")

    @staticmethod
    def _meta(db: sqlite3.Connection, key: str):
        row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    @staticmethod
    def _set_meta(db: sqlite3.Connection, values: dict) -> None:
        db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(values.items()))
