"""Capturing the state files that do not come from the log, without ever following a symlink."""
from __future__ import annotations

import functools
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .store import Entry

#: What a checkpoint captures, relative to `.loki/` (the reference system's restore set).
CAPTURE_ROOTS = ("session.json", "dashboard-state.json", "CONTINUITY.md", "autonomy-state.json", "state", "queue")

#: Never captured nor touched by a restore: the checkpoint store itself lives under state/.
EXCLUDED = ("state/checkpoints",)

#: Suffix of the temp files a restore writes before renaming them into place.
TMP_SUFFIX = ".lokilog-rb.tmp"


@functools.lru_cache(maxsize=1)
def _excluded() -> tuple[str, ...]:
    # Projection views come from the log: a rollback rewrites them from it, never restores them.
    from projections.registry import view_paths

    return EXCLUDED + view_paths()


def is_excluded(rel: str) -> bool:
    """True if ``rel`` (a `/` path relative to `.loki/`) is outside what checkpoints manage."""
    if rel.endswith(TMP_SUFFIX):
        return True
    return any(rel == x or rel.startswith(x + "/") for x in _excluded())


def holds_excluded(rel: str) -> bool:
    """True if ``rel`` is a directory above an excluded path (so it must never be removed)."""
    return any(x.startswith(rel + "/") for x in _excluded())


@dataclass
class Scan:
    """The captured entries of a tree and the paths skipped (unreadable or special files)."""

    entries: list[Entry] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def scan_tree(base: Path, roots: tuple[str, ...] | None, put: Callable[[bytes], str],
              exclude: Callable[[str], bool] = is_excluded) -> Scan:
    """Walk ``roots`` under ``base`` (all of it when None), storing each file's bytes via ``put``.

    Symlinks are recorded as links (their text), never followed, so nothing outside ``base``
    is ever read.
    """
    scan = Scan()
    names = roots if roots is not None else tuple(sorted(os.listdir(base)))
    for name in names:
        _visit(base, name, put, exclude, scan)
    scan.entries.sort(key=lambda e: e.path)
    return scan


def _visit(base: Path, rel: str, put, exclude, scan: Scan) -> None:
    if exclude(rel):
        return
    path = base / rel
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode):
        scan.entries.append(Entry(rel, "symlink", target=os.readlink(path)))
    elif stat.S_ISDIR(info.st_mode):
        scan.entries.append(Entry(rel, "dir", mode=stat.S_IMODE(info.st_mode)))
        try:
            children = sorted(os.listdir(path))
        except OSError:
            scan.skipped.append(rel + "/")
            return
        for child in children:
            _visit(base, f"{rel}/{child}", put, exclude, scan)
    elif stat.S_ISREG(info.st_mode):
        data = _read_nofollow(path)
        if data is None:
            scan.skipped.append(rel)
            return
        scan.entries.append(Entry(rel, "file", sha256=put(data), mode=stat.S_IMODE(info.st_mode)))
    else:
        scan.skipped.append(rel)  # fifos, sockets, devices: not state


def _read_nofollow(path: Path) -> bytes | None:
    # O_NOFOLLOW closes the race where a file is swapped for a symlink between lstat and open.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)
