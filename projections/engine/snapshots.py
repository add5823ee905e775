"""Projection snapshots: `{seq, state}` and the fold's bookkeeping, written atomically.

Layout, per projection, under `.loki/projections/<name>/`:

``snapshot.json``
    The state as of ``seq`` plus the schema version, the id of the event at ``seq`` (so a
    rewritten log is noticed) and the poison bookkeeping. Replaced by ``atomic_write`` (temp
    file, fsync, rename, fsync of the directory): a crash leaves the old snapshot or the new.
``lock``
    flock'ed while snapshot and views are written, so two processes never interleave writes.

Besides, `.loki/events/cursors/projection.<name>.json` (``{"seq": N, "id": ...}``) records the
seq of the views last written: it is the projection's high-water mark, which `lokilog verify`
reads to notice a log that lost its tail.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import msgspec

from eventlog import LokiPaths
from eventlog.fsutil import atomic_write, write_all
from eventlog.errors import UnsafeFileError
from eventlog.safeio import read_small

from .fold import DeadLetter, FoldOutcome

SNAPSHOT_FORMAT = 1

_encoder = msgspec.json.Encoder(order="deterministic")


class Snapshot(msgspec.Struct, kw_only=True):
    """A snapshot file, with the state left encoded until the caller knows its type."""

    format: int = SNAPSHOT_FORMAT
    name: str
    version: int
    seq: int
    head_id: str | None = None
    dead_letters: list[DeadLetter] = msgspec.field(default_factory=list)
    dead_letter_count: int = 0
    stopped: DeadLetter | None = None
    state: msgspec.Raw
    #: sha256 of this snapshot encoded with ``digest`` null: a bit flipped at rest is noticed
    #: and the projection rebuilt, instead of resuming from a silently wrong state.
    digest: str | None = None


class Position(msgspec.Struct):
    """The views' high-water mark: the same shape as a subscriber cursor."""

    seq: int = 0
    id: str | None = None


class ProjectionFiles:
    """Where one projection's snapshot, lock and high-water mark live."""

    def __init__(self, loki_dir: Path, name: str) -> None:
        paths = LokiPaths(Path(loki_dir))
        self.directory = paths.root / "projections" / name
        self.snapshot = self.directory / "snapshot.json"
        self.lock = self.directory / "lock"
        self.position = paths.cursors / f"projection.{name}.json"

    def read_snapshot(self) -> Snapshot | None:
        """Return the snapshot, or None when there is none or it cannot be read."""
        try:
            data = read_small(self.snapshot, 1 << 30, json_depth_limit=None)
        except (FileNotFoundError, UnsafeFileError):
            return None
        try:
            return msgspec.json.decode(data, type=Snapshot)
        except (msgspec.DecodeError, UnicodeDecodeError):
            return None  # written by a future format or damaged (by hand, or bits at rest): rebuilt

    def write_snapshot(self, name: str, version: int, outcome: FoldOutcome) -> bytes:
        """Durably replace the snapshot with ``outcome``; return the encoded state."""
        state = encode_state(outcome.state)
        snapshot = Snapshot(
            name=name, version=version, seq=outcome.seq, head_id=outcome.head_id,
            dead_letters=outcome.dead_letters, dead_letter_count=outcome.dead_letter_count,
            stopped=outcome.stopped, state=msgspec.Raw(state),
        )
        snapshot.digest = _digest(snapshot)
        self.directory.mkdir(parents=True, exist_ok=True)
        atomic_write(self.snapshot, _encoder.encode(snapshot))
        return state

    def read_position(self) -> Position:
        try:
            return msgspec.json.decode(read_small(self.position, json_depth_limit=None), type=Position)
        except (FileNotFoundError, UnsafeFileError, msgspec.DecodeError, UnicodeDecodeError):
            return Position()

    def write_position(self, seq: int, event_id: str | None) -> None:
        # Rewritten in place, not fsynced: the watch daemon writes it after every wake-up, and
        # on ext4 a rename over an existing file costs a data flush. A mark torn or lost by a
        # crash reads as seq 0, which is harmless: it only ever says "seen at least this far".
        self.position.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.position, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
        try:
            write_all(fd, _encoder.encode(Position(seq, event_id)))
        finally:
            os.close(fd)

    def remove(self) -> None:
        """Forget the snapshot and the high-water mark (the next catch-up folds from seq 1)."""
        for path in (self.snapshot, self.position):
            path.unlink(missing_ok=True)


def intact(snapshot: Snapshot) -> bool:
    """Whether a snapshot is as it was written (snapshots from before digests are trusted)."""
    return snapshot.digest is None or snapshot.digest == _digest(snapshot)


def _digest(snapshot: Snapshot) -> str:
    return hashlib.sha256(_encoder.encode(msgspec.structs.replace(snapshot, digest=None))).hexdigest()


def encode_state(state: Any) -> bytes:
    """Encode a state canonically (sorted keys), so equal states give equal bytes."""
    return _encoder.encode(state)


def decode_state(data: bytes, state_type: Any) -> Any:
    """Decode a state encoded by :func:`encode_state` into a fresh object."""
    return msgspec.json.decode(data, type=state_type)
