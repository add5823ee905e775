"""The checkpoint store on disk: content-addressed objects and one manifest per checkpoint.

Layout under `.loki/state/checkpoints/` (names starting with a dot are lokilog's own and can
never be checkpoint ids)::

    index.jsonl              the materialized view of the checkpoint projection
    .objects/ab/<sha256>     file contents, each stored once however many checkpoints hold it
    .lock                    serializes creation, rollback and pruning of this store
    .rollback-journal.json   present only while a rollback is in flight (crash recovery)
    .tmp-<id>/               a checkpoint being written; renamed to <id>/ when complete
    <id>/manifest.json       a lokilog checkpoint: what was captured, by content hash
    <id>/worktree-snapshot.txt  the git snapshot's sha (the sidecar Loki Mode also writes)

Legacy Loki Mode checkpoints are plain directories mirroring `.loki/` (see checkpoint_legacy).
"""
from __future__ import annotations

import hashlib
import errno
import os
import shutil
from pathlib import Path
from typing import Iterator, Literal

import msgspec

from eventlog import EventLogError, LockTimeoutError
from eventlog.fsutil import atomic_write, create_exclusive, created_dirs_parents, fsync_dir
from eventlog.locking import LogLock
from eventlog.safeio import first_escape

from .faults import fault_point
from .ids import CheckpointIdError, check_id, checkpoint_dir, is_within

MANIFEST = "manifest.json"
GIT_SIDECAR = "worktree-snapshot.txt"
JOURNAL = ".rollback-journal.json"
LOCK_TIMEOUT = 30.0


class CheckpointError(EventLogError):
    """A checkpoint operation failed (missing checkpoint, damaged object, busy store)."""


class CheckpointNotFoundError(CheckpointError):
    """No checkpoint has the requested id."""


class Entry(msgspec.Struct, frozen=True, omit_defaults=True):
    """One captured path, relative to `.loki/` with `/` separators."""

    path: str
    kind: Literal["file", "dir", "symlink"]
    sha256: str | None = None
    mode: int | None = None
    target: str | None = None


class GitSnapshot(msgspec.Struct, frozen=True, omit_defaults=True):
    """A working-tree snapshot anchored at ``ref`` so git gc cannot prune it."""

    ref: str
    sha: str
    kind: Literal["stash", "head"]
    head: str | None = None


class Manifest(msgspec.Struct, frozen=True, omit_defaults=True):
    """What one checkpoint holds. ``roots`` are the captured scopes (restored exactly);
    a legacy manifest has none and is restored by merging, as Loki Mode does."""

    id: str
    created_at: str
    message: str
    log_seq: int | None
    entries: list[Entry]
    roots: list[str] = []
    kind: str = "manual"
    created_by: str = "lokilog"
    git: GitSnapshot | None = None
    skipped: list[str] = []
    legacy: bool = False
    format: int = 1


_manifest_decoder = msgspec.json.Decoder(Manifest)
_encoder = msgspec.json.Encoder(order="deterministic")


class CheckpointStore:
    """The files of one `.loki/state/checkpoints/` directory."""

    def __init__(self, loki_root: Path) -> None:
        self.loki = Path(loki_root)
        self.root = self.loki / "state" / "checkpoints"
        self.objects = self.root / ".objects"
        self.journal = self.root / JOURNAL
        self.index = self.root / "index.jsonl"
        self._unsynced_dirs: set[Path] = set()

    # ------------------------------------------------------------------ objects

    def put_object(self, data: bytes) -> str:
        """Store ``data`` once under its sha256 and return the hash."""
        digest = hashlib.sha256(data).hexdigest()
        path = self.object_path(digest)
        if path.exists():
            # Stored before, maybe by a run that crashed before syncing the directory entry:
            # the durability step is not skipped.
            self._unsynced_dirs.add(path.parent)
            return digest
        self._unsynced_dirs.update(created_dirs_parents(path.parent))
        try:
            create_exclusive(path, data, mode=0o444, sync_dir=False)
        except FileExistsError:
            pass  # a concurrent writer stored the same bytes first
        self._unsynced_dirs.add(path.parent)  # fsynced once per shard by flush(), not per object
        return digest

    def flush(self) -> None:
        """Make every object stored so far survive power loss (fsync their directories)."""
        while self._unsynced_dirs:
            fsync_dir(self._unsynced_dirs.pop())

    def object_path(self, digest: str) -> Path:
        """Where the object with this sha256 lives."""
        return self.objects / digest[:2] / digest

    def read_object(self, digest: str) -> bytes:
        """Return an object's bytes, checking they still hash to its name."""
        try:
            data = self.object_path(digest).read_bytes()
        except FileNotFoundError:
            raise CheckpointError(f"object {digest} is missing from the checkpoint store") from None
        if hashlib.sha256(data).hexdigest() != digest:
            raise CheckpointError(f"object {digest} is damaged (its contents no longer match its hash)")
        return data

    def iter_objects(self) -> Iterator[Path]:
        """Every stored object file."""
        if not self.objects.is_dir():
            return
        for shard in sorted(self.objects.iterdir()):
            if shard.is_dir():
                yield from (p for p in sorted(shard.iterdir()) if not p.name.endswith(".tmp"))

    # ---------------------------------------------------------------- checkpoints

    def path_of(self, checkpoint_id: str) -> Path:
        """Return the checkpoint's directory (the id is sanitized first)."""
        self.check_root()
        return checkpoint_dir(self.root, self.loki, checkpoint_id)

    def check_root(self) -> None:
        """Refuse a store that a symlink (of state/ or of the store) has moved outside `.loki/`."""
        if os.path.lexists(self.root) and not is_within(self.root.resolve(), self.loki.resolve()):
            raise CheckpointIdError(f"{self.root} leads outside .loki/ (a symlink?): refusing to use it")
        # The store may not exist yet while state/ already leads elsewhere: mkdir would create
        # it (and its .lock) in the link target, so every ancestor is checked first.
        escape = first_escape(self.loki, ("state", "state/checkpoints"))
        if escape is not None:
            raise CheckpointIdError(escape)

    def exists(self, checkpoint_id: str) -> bool:
        """True if the checkpoint has a directory (lokilog's or Loki Mode's)."""
        return self.path_of(checkpoint_id).is_dir()

    def ids_on_disk(self) -> list[str]:
        """Every checkpoint directory name that is a valid id (lokilog's and Loki Mode's)."""
        if not self.root.is_dir():
            return []
        found = []
        for child in sorted(self.root.iterdir()):
            if child.name.startswith(".") or not child.is_dir() or child.is_symlink():
                continue
            try:
                found.append(check_id(child.name))
            except EventLogError:
                continue
        return found

    def has_manifest(self, checkpoint_id: str) -> bool:
        """True for lokilog's own checkpoints (Loki Mode's have no manifest)."""
        return (self.path_of(checkpoint_id) / MANIFEST).is_file()

    def load_manifest(self, checkpoint_id: str) -> Manifest:
        """Read a lokilog checkpoint's manifest."""
        path = self.path_of(checkpoint_id) / MANIFEST
        try:
            return _manifest_decoder.decode(path.read_bytes())
        except FileNotFoundError:
            raise CheckpointNotFoundError(f"no lokilog checkpoint {checkpoint_id!r}") from None
        except msgspec.DecodeError as exc:
            raise CheckpointError(f"{path}: damaged manifest: {exc}") from exc

    def commit(self, manifest: Manifest) -> Path:
        """Write a complete checkpoint directory and make it visible in one rename."""
        final = self.path_of(manifest.id)
        self.flush()  # objects before the manifest that names them
        tmp = self.root / f".tmp-{manifest.id}"
        tmp.mkdir(parents=True)  # exclusive: a second writer of the same id fails here
        if manifest.git is not None:
            atomic_write(tmp / GIT_SIDECAR, (manifest.git.sha + "\n").encode())
        atomic_write(tmp / MANIFEST, _encoder.encode(manifest) + b"\n")
        fault_point("create:before-commit")
        if final.exists():
            shutil.rmtree(tmp)
            raise CheckpointError(f"checkpoint {manifest.id!r} already exists")
        os.rename(tmp, final)
        fsync_dir(self.root)
        return final

    def remove(self, checkpoint_id: str) -> None:
        """Delete a lokilog checkpoint directory: renamed aside first so a crash never leaves half of one."""
        path = self.path_of(checkpoint_id)
        trash = self.root / f".trash-{checkpoint_id}-{os.urandom(4).hex()}"
        os.rename(path, trash)
        fsync_dir(self.root)
        shutil.rmtree(trash, ignore_errors=True)

    def clean_debris(self) -> list[str]:
        """Remove half-written checkpoints and trash left by a crash; return what was removed."""
        removed = []
        if not self.root.is_dir():
            return removed
        for child in self.root.iterdir():
            if child.name.startswith((".tmp-", ".trash-")) and child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
                removed.append(child.name)
        return sorted(removed)

    # ---------------------------------------------------------------- the lock

    def lock(self) -> "_StoreLock":
        """An exclusive, bounded lock on the store (never waits forever)."""
        self.check_root()
        self.root.mkdir(parents=True, exist_ok=True)
        return _StoreLock(self.root / ".lock")


class _StoreLock:
    """The store's lock: eventlog's LogLock (bounded, O_NOFOLLOW) with the store's own messages."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = LogLock(path)

    def __enter__(self):
        try:
            self._lock.acquire(LOCK_TIMEOUT)
        except LockTimeoutError as exc:
            self._lock.close()
            raise LockTimeoutError(
                f"the checkpoint store is busy (another create, rollback or prune) for over {LOCK_TIMEOUT:.0f}s"
            ) from exc
        except OSError as exc:
            self._lock.close()
            # LogLock opens with O_NOFOLLOW: a .lock planted as a link is refused, never followed.
            if exc.errno != errno.ELOOP:
                raise  # a read-only or full disk: a failure (exit 1), named by the CLI with its path
            raise CheckpointIdError(f"{self.path}: is a symbolic link; the store's lock is never followed") from None
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()
        self._lock.close()


def encode_json(value: object) -> bytes:
    """Canonical JSON bytes (sorted keys) for manifests, journals and views."""
    return _encoder.encode(value)
