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
from eventlog.errors import UnsafePathError
from eventlog.fsutil import write_all
from eventlog.safeio import open_dir

from .capture import TMP_SUFFIX, holds_excluded, is_excluded
from .store import Entry, Manifest


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
    ``progress(ops done, ops in all)`` is called before each op.

    Every path is walked with directory descriptors, one component at a time, never following
    a link: a directory swapped for a symlink between a check and a write cannot redirect the
    write, because there is no separate check (the open that refuses a link is the walk).
    """
    outcome = Outcome()
    touched: set[str] = set()
    root_fd = os.open(loki_root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for done, op in enumerate(ops):
            if progress is not None:
                progress(done, len(ops))
            try:
                parent_fd, name = _open_parent(root_fd, op.entry.path)
                try:
                    _apply(parent_fd, name, op, read_object)
                finally:
                    os.close(parent_fd)
            except (OSError, EventLogError) as exc:
                outcome.errors.append(f"{op.entry.path}: {_describe(exc)}")
                continue
            touched.add(str(PurePosixPath(op.entry.path).parent))
            (outcome.removed if op.action == "delete" else outcome.restored).append(op.entry.path)
        for directory in touched:
            _fsync_below(root_fd, directory)
    finally:
        os.close(root_fd)
    return outcome


def _fsync_below(root_fd: int, directory: str) -> None:
    try:
        fd, _ = _open_parent(root_fd, f"{directory}/x", create=False) if directory != "." else (os.dup(root_fd), "")
    except (OSError, EventLogError):
        return  # the directory was removed by a later op
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _describe(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)


def _open_parent(root_fd: int, rel: str, create: bool = True) -> tuple[int, str]:
    """Open the directory that holds ``rel`` below ``root_fd`` (creating missing ones), links refused."""
    parts = PurePosixPath(rel).parts
    if not parts or rel.startswith("/") or "\x00" in rel or any(p in ("..", ".", "") for p in parts):
        raise UnsafePathError(f"refusing unsafe path {rel!r}")
    fd = os.dup(root_fd)
    try:
        for depth, part in enumerate(parts[:-1]):
            try:
                child = open_dir(part, fd, create=create)
            except UnsafePathError:
                where = "/".join(parts[:depth + 1])
                raise UnsafePathError(f"refusing to write through {where}: it is a symlink or a file") from None
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd, parts[-1]


def _apply(dir_fd: int, name: str, op: Op, read_object: Callable[[str], bytes]) -> None:
    entry = op.entry
    if op.action == "delete":
        _remove(dir_fd, name)
    elif op.action == "mkdir":
        try:
            os.mkdir(name, entry.mode if entry.mode is not None else 0o755, dir_fd=dir_fd)
        except FileExistsError:
            if not stat.S_ISDIR(_lmode(dir_fd, name)):
                raise
        if entry.mode is not None:
            fd = open_dir(name, dir_fd)
            try:
                os.fchmod(fd, entry.mode)
            finally:
                os.close(fd)
    elif op.action == "write":
        _replace_file(dir_fd, name, read_object(entry.sha256 or ""), entry.mode)
    else:
        tmp = name + TMP_SUFFIX
        _remove(dir_fd, tmp)
        os.symlink(entry.target or "", tmp, dir_fd=dir_fd)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)


def _replace_file(dir_fd: int, name: str, data: bytes, mode: int | None) -> None:
    # Write beside the target and rename over it: a reader (or a crash) sees the old file or
    # the new one, never a mix. O_NOFOLLOW|O_EXCL: a planted symlink at the temp name is refused.
    tmp = name + TMP_SUFFIX
    _remove(dir_fd, tmp)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dir_fd)
    try:
        write_all(fd, data)
        os.fchmod(fd, mode if mode is not None else 0o644)
        os.fsync(fd)
    finally:
        os.close(fd)
    if stat.S_ISDIR(_lmode(dir_fd, name)):
        os.unlink(tmp, dir_fd=dir_fd)
        raise IsADirectoryError(21, "a directory is in the way", name)
    os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)


def _lmode(dir_fd: int, name: str) -> int:
    try:
        return os.lstat(name, dir_fd=dir_fd).st_mode
    except FileNotFoundError:
        return 0


def _remove(dir_fd: int, name: str) -> None:
    mode = _lmode(dir_fd, name)
    if mode == 0:
        return
    if stat.S_ISDIR(mode):
        os.rmdir(name, dir_fd=dir_fd)
    else:
        os.unlink(name, dir_fd=dir_fd)
