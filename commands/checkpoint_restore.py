"""Restoring a checkpoint: a pure plan (what to delete, create and write), then its execution.

A lokilog checkpoint restores its captured scopes exactly: paths that appeared since are
removed (they are in the pre-rollback checkpoint, so nothing is lost), which is what makes a
rollback of a rollback return to the pre-rollback state exactly. A Loki Mode checkpoint holds
only some files of a scope, so it is merged in, as Loki Mode's own restore does.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Literal

from eventlog import EventLogError
from eventlog.fsutil import fsync_dir, write_all

from .checkpoint_capture import TMP_SUFFIX, holds_excluded, is_excluded
from .checkpoint_store import Entry, Manifest


@dataclass(frozen=True)
class Op:
    action: Literal["delete", "mkdir", "write", "link"]
    entry: Entry


@dataclass
class Outcome:
    """What a restore did: paths changed, and per-item errors (reported, not fatal)."""

    restored: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def plan(current: list[Entry], target: Manifest) -> list[Op]:
    """Return the operations that turn ``current`` into ``target`` (deletes first, deepest first)."""
    wanted = {e.path: e for e in target.entries if not is_excluded(e.path)}
    have = {e.path: e for e in current}
    deletes: list[Op] = []
    if not target.legacy:
        in_scope = _scope_test(target.roots)
        stale = [e for p, e in have.items()
                 if in_scope(p) and not _same_kind(wanted.get(p), e) and not holds_excluded(p)]
        deletes = [Op("delete", e) for e in sorted(stale, key=lambda e: e.path, reverse=True)]
    creates = []
    for path in sorted(wanted):
        entry = wanted[path]
        if entry == have.get(path):
            continue
        creates.append(Op({"dir": "mkdir", "file": "write", "symlink": "link"}[entry.kind], entry))
    return deletes + creates


def _same_kind(wanted: Entry | None, have: Entry) -> bool:
    return wanted is not None and wanted.kind == have.kind


def _scope_test(roots: list[str]) -> Callable[[str], bool]:
    def in_scope(path: str) -> bool:
        return any(path == r or path.startswith(r + "/") for r in roots) and not is_excluded(path)
    return in_scope


def execute(loki_root: Path, ops: list[Op], read_object: Callable[[str], bytes],
            progress: Callable[[int, int], None] | None = None) -> Outcome:
    """Apply ``ops`` under ``loki_root``; each file is replaced atomically, errors are collected.

    ``progress(ops done, ops in all)`` is called after each op.
    """
    outcome = Outcome()
    touched: set[Path] = set()
    for done, op in enumerate(ops, 1):
        if progress is not None:
            progress(done - 1, len(ops))
        try:
            path = _safe_path(loki_root, op.entry.path)
            _apply(path, op, read_object)
        except (OSError, EventLogError) as exc:
            outcome.errors.append(f"{op.entry.path}: {_describe(exc)}")
            continue
        touched.add(path.parent)
        (outcome.removed if op.action == "delete" else outcome.restored).append(op.entry.path)
    for directory in touched:
        try:
            fsync_dir(directory)
        except OSError:
            pass  # the directory was removed by a later op
    return outcome


def _describe(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)


class UnsafePathError(EventLogError):
    """A path in a checkpoint would lead outside `.loki/` or through a symlink."""


def _safe_path(root: Path, rel: str) -> Path:
    parts = PurePosixPath(rel).parts
    if not parts or rel.startswith("/") or "\x00" in rel or any(p in ("..", ".", "") for p in parts):
        raise UnsafePathError(f"refusing unsafe path {rel!r}")
    current = root
    for part in parts[:-1]:
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            os.mkdir(current)
            continue
        if not stat.S_ISDIR(mode):
            kind = "symlink" if stat.S_ISLNK(mode) else "file"
            raise UnsafePathError(f"refusing to write through the {kind} {current.relative_to(root)}")
    return current / parts[-1]


def _apply(path: Path, op: Op, read_object: Callable[[str], bytes]) -> None:
    entry = op.entry
    if op.action == "delete":
        _remove(path)
    elif op.action == "mkdir":
        try:
            os.mkdir(path, entry.mode if entry.mode is not None else 0o755)
        except FileExistsError:
            if not stat.S_ISDIR(os.lstat(path).st_mode):
                raise
        if entry.mode is not None:
            os.chmod(path, entry.mode)
    elif op.action == "write":
        _replace_file(path, read_object(entry.sha256 or ""), entry.mode)
    else:
        tmp = path.with_name(path.name + TMP_SUFFIX)
        _remove(tmp)
        os.symlink(entry.target or "", tmp)
        os.replace(tmp, path)


def _replace_file(path: Path, data: bytes, mode: int | None) -> None:
    # Write beside the target and rename over it: a reader (or a crash) sees the old file or
    # the new one, never a mix. O_NOFOLLOW|O_EXCL: a planted symlink at the temp name is refused.
    tmp = path.with_name(path.name + TMP_SUFFIX)
    _remove(tmp)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        write_all(fd, data)
        os.fchmod(fd, mode if mode is not None else 0o644)
        os.fsync(fd)
    finally:
        os.close(fd)
    if stat.S_ISDIR(_lmode(path)):
        os.unlink(tmp)
        raise IsADirectoryError(21, "a directory is in the way", str(path))
    os.replace(tmp, path)


def _lmode(path: Path) -> int:
    try:
        return os.lstat(path).st_mode
    except FileNotFoundError:
        return 0


def _remove(path: Path) -> None:
    mode = _lmode(path)
    if mode == 0:
        return
    if stat.S_ISDIR(mode):
        os.rmdir(path)
    else:
        os.unlink(path)
