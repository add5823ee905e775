"""The ingester's file moves: drop-box files to archive/ or quarantine/, and its stamp.

Each one is best effort where a failure must not fail the append a pass rode on, and never
replaces or deletes a file that is not lokilog's own.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ..fsutil import atomic_write, fsync_dir, make_dirs
from .state import FileMark


def move(source: Path, target: Path, clobber: bool) -> bool:
    """Move a file; without ``clobber`` never replace one already there (it is not ours)."""
    make_dirs(target.parent)
    try:
        if clobber and not same_file(source, target):
            os.replace(source, target)
            return True
        if clobber:
            raise FileExistsError(target)  # rename() of two links to one file does nothing
        os.link(source, target)  # link, unlike rename, refuses to replace an existing file
    except FileNotFoundError:
        return False  # moved already (another ingester, or a Loki Mode subscriber)
    except FileExistsError:
        if not same_file(source, target):
            return False  # a file of that name is in archive/ already: leave both as they are
        # The same inode under both names: a move killed between link and unlink. Finish it.
    except OSError:
        # archive/ on another device, read-only, full: the event is stored and its file stays
        # where it is. Tidying up must not fail the append that happened to trigger this pass.
        return False
    try:
        os.unlink(source)
    except FileNotFoundError:
        return False
    except OSError:
        return False  # linked but not unlinked: both names stay; the event is stored once
    return True


def quarantine(path: Path, folder: Path) -> Path | None:
    """Move one of lokilog's own drop-box files that is not a valid event out of the way."""
    try:
        make_dirs(folder)
        target = folder / f"{path.parent.name}-{path.name}.{time.time_ns()}"
        os.rename(path, target)
        fsync_dir(folder)
    except OSError:
        return None  # left in place and marked bad instead: still never read twice
    return target


def same_file(first: Path, second: Path) -> bool:
    """True when both paths name one file (False when either is missing)."""
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False


def unchanged(path: str, mark: FileMark) -> bool:
    """True when the file at ``path`` still has the size and mtime it had when it was read."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return True  # moved on (to archive/, where its name is known): nothing new here
    return (st.st_size, st.st_mtime_ns) == (mark.size, mark.mtime_ns)


def save_stamp(path: Path, stamp: dict) -> None:
    """Write the change-check stamp, best effort."""
    # Not fsynced: a lost stamp only costs one full pass. For the same reason a stamp that
    # cannot be written (a full disk, a failed rename) must not fail the append it rode on.
    try:
        atomic_write(path, json.dumps(stamp).encode(), durable=False)
    except OSError:
        pass
