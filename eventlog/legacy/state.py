"""What the legacy ingester remembers between passes: `.loki/events/legacy.sqlite`.

Only a holder of the log lock writes it. It is committed *after* the log is fsynced, so after
a crash it can only be behind the log, never ahead; every decision made from it is checked
against the log (see eventlog/legacy/ingest.py), so being behind costs a re-read, never an event.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from ..index import readonly_uri

_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (name TEXT PRIMARY KEY, dir TEXT NOT NULL, size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL, status TEXT NOT NULL, reason TEXT) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records (key TEXT NOT NULL, name TEXT NOT NULL, PRIMARY KEY (key, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS flat_counts (key TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cursors (generation TEXT PRIMARY KEY, path TEXT NOT NULL, offset INTEGER NOT NULL,
    size INTEGER NOT NULL, inode INTEGER NOT NULL, rewrites INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bad_lines (generation TEXT NOT NULL, offset INTEGER NOT NULL, path TEXT NOT NULL,
    reason TEXT NOT NULL, PRIMARY KEY (generation, offset)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log_keys (key TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS legacy_ids (id TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
"""


class FileMark(NamedTuple):
    """The last look at a pending/archive file: its size and mtime, and what it was."""

    name: str
    dir: str
    size: int
    mtime_ns: int
    status: str  # "done" or "bad"
    reason: str | None = None


@dataclass(frozen=True)
class Cursor:
    """How far one flat file (a generation: identified by its first line) has been read."""

    generation: str
    path: str
    offset: int
    size: int
    inode: int
    rewrites: int = 0


@dataclass
class Changes:
    """Everything one batch changes, written in one transaction."""

    files: list[FileMark]
    records: list[tuple[str, str]]
    flat_counts: dict[str, int]
    cursor: Cursor | None = None
    bad_lines: list[tuple[str, int, str, str]] | None = None
    log_keys: dict[str, int] | None = None  # absolute counts of match keys in the log
    log_position: tuple[int, str] | None = None  # the last event counted: (seq, id)
    legacy_ids: list[str] | None = None  # ids of events stored from Loki Mode files


class LegacyState:
    """The SQLite file; opened per process (connections must not cross a fork)."""

    def __init__(self, path: Path, readonly: bool = False) -> None:
        self.path = path
        if readonly:
            self._db = sqlite3.connect(readonly_uri(path), uri=True, timeout=1.0, check_same_thread=False)
            return
        self._db = sqlite3.connect(path, timeout=5.0, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL: a power loss may roll back the last transactions, which only puts this
        # state behind the log, the safe direction.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        row = self._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if row is None:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (_SCHEMA_VERSION,))

    def close(self) -> None:
        self._db.close()

    def file_marks(self) -> dict[str, FileMark]:
        """Return every file looked at so far, by name."""
        rows = self._db.execute("SELECT name, dir, size, mtime_ns, status, reason FROM files")
        # A tuple per row, not a dataclass: archive/ may hold hundreds of thousands of files.
        return {r[0]: FileMark._make(r) for r in rows}

    def has_record(self, key: str, name: str) -> bool:
        """True when this file (by name) was already counted under this match key."""
        return self._db.execute("SELECT 1 FROM records WHERE key = ? AND name = ?", (key, name)).fetchone() is not None

    def record_count(self, key: str) -> int:
        """How many distinct files were counted under a match key."""
        return self._db.execute("SELECT COUNT(*) FROM records WHERE key = ?", (key,)).fetchone()[0]

    def flat_count(self, key: str) -> int:
        """How many flat lines were counted under a match key."""
        row = self._db.execute("SELECT n FROM flat_counts WHERE key = ?", (key,)).fetchone()
        return row[0] if row else 0

    def log_position(self) -> tuple[int, str | None]:
        """The (seq, id) of the last log event whose match key was counted."""
        rows = dict(self._db.execute("SELECT key, value FROM meta WHERE key IN ('log_seq', 'log_id')").fetchall())
        return int(rows.get("log_seq") or 0), rows.get("log_id")

    def key_count(self, key: str) -> int:
        """How many events in the log (up to log_position) have this match key."""
        row = self._db.execute("SELECT n FROM log_keys WHERE key = ?", (key,)).fetchone()
        return row[0] if row else 0

    def is_legacy_id(self, event_id: str) -> bool:
        """True when the event stored under this id came from a Loki Mode file."""
        return self._db.execute("SELECT 1 FROM legacy_ids WHERE id = ?", (event_id,)).fetchone() is not None

    def reset_log_keys(self) -> None:
        """Forget the key counts (the log was rewritten or truncated): they are recounted."""
        self._db.execute("DELETE FROM log_keys")
        self._db.execute("DELETE FROM meta WHERE key IN ('log_seq', 'log_id')")

    def cursors(self) -> dict[str, Cursor]:
        rows = self._db.execute("SELECT generation, path, offset, size, inode, rewrites FROM cursors")
        return {r[0]: Cursor(*r) for r in rows}

    def bad_lines(self, limit: int = 1000) -> list[tuple[str, int, str, str]]:
        return self._db.execute(
            "SELECT generation, offset, path, reason FROM bad_lines ORDER BY path, offset LIMIT ?", (limit,)
        ).fetchall()

    def bad_line_count(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM bad_lines").fetchone()[0]

    def apply(self, changes: Changes) -> None:
        """Write one batch's changes atomically."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?)",
                           [(f.name, f.dir, f.size, f.mtime_ns, f.status, f.reason) for f in changes.files])
            db.executemany("INSERT OR IGNORE INTO records VALUES (?, ?)", changes.records)
            db.executemany("INSERT OR REPLACE INTO flat_counts VALUES (?, ?)", list(changes.flat_counts.items()))
            if changes.cursor is not None:
                c = changes.cursor
                db.execute("INSERT OR REPLACE INTO cursors VALUES (?, ?, ?, ?, ?, ?)",
                           (c.generation, c.path, c.offset, c.size, c.inode, c.rewrites))
            if changes.bad_lines:
                db.executemany("INSERT OR REPLACE INTO bad_lines VALUES (?, ?, ?, ?)", changes.bad_lines)
            if changes.log_keys:
                db.executemany("INSERT OR REPLACE INTO log_keys VALUES (?, ?)", list(changes.log_keys.items()))
            if changes.log_position is not None:
                db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                               [("log_seq", changes.log_position[0]), ("log_id", changes.log_position[1])])
            if changes.legacy_ids:
                db.executemany("INSERT OR IGNORE INTO legacy_ids VALUES (?)", [(i,) for i in changes.legacy_ids])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def delete_cursors(self, generations: list[str]) -> None:
        """Forget cursors of flat files that no longer exist."""
        self._db.executemany("DELETE FROM cursors WHERE generation = ?", [(g,) for g in generations])


def legacy_state_path(events_dir: Path) -> Path:
    """The ingester's state database in `.loki/events/`."""
    return events_dir / "legacy.sqlite"
