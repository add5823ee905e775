"""Skipping view writes that would change nothing: what one process last wrote to each file.

A projection kept in memory (``lokilog watch``) writes its views after every catch-up, most of
them unchanged. :class:`WrittenFiles` remembers the bytes it wrote and the file's identity after
writing them (inode, size, modification time); a write of the same bytes to a file that still
has that identity is skipped. A file someone else replaced, changed or removed has another
identity (or none), so it is written again: the views stay repaired by the next write, as
``projections.base`` promises. Nothing is remembered across processes.
"""
from __future__ import annotations

import os
from pathlib import Path

from eventlog.fsutil import atomic_write
from eventlog.safeio import read_small


def identity(path: Path) -> tuple[int, int, int] | None:
    """The file's (inode, size, mtime in ns), or None when there is no such file."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    return found.st_ino, found.st_size, found.st_mtime_ns


class WrittenFiles:
    """The bytes last written to each view file by this object, and the file's identity then.

    A write may also name the state it was made from and that state's change count (a counter
    its ``apply`` bumps, with anything else the view depends on, such as a price table):
    :meth:`current` then tells, for the cost of a stat, that the view of that state is already
    on disk, so the caller need not even render it.
    """

    def __init__(self) -> None:
        self._written: dict[Path, tuple[bytes, tuple[int, int, int] | None, object, object]] = {}

    def unchanged(self, path: Path) -> bool:
        """Whether ``path`` is still the file this object last wrote there."""
        known = self._written.get(path)
        return known is not None and known[1] is not None and identity(path) == known[1]

    def current(self, path: Path, state: object, changes: object) -> bool:
        """Whether ``path`` holds what was written from ``state`` at ``changes``, untouched since."""
        known = self._written.get(path)
        return known is not None and known[2] is state and known[3] == changes and self.unchanged(path)

    def write(self, path: Path, data: bytes, durable: bool = True, state: object = None,
              changes: object = None, read_first: bool = False) -> bool:
        """Write ``data`` to ``path`` atomically unless the file already holds it; True if written.

        ``read_first``: a file this object knows nothing of is read and left alone if it holds
        ``data`` already (its modification time then keeps meaning when its content changed).
        """
        known = self._written.get(path)
        if known is not None and known[0] == data and self.unchanged(path):
            self._written[path] = (data, known[1], state, changes)
            return False
        if known is None and read_first and _content(path) == data:
            self._written[path] = (data, identity(path), state, changes)
            return False
        atomic_write(path, data, durable=durable)
        self._written[path] = (data, identity(path), state, changes)
        return True


def _content(path: Path) -> bytes | None:
    try:
        return read_small(path, 1 << 30, json_depth_limit=None)
    except FileNotFoundError:
        return None
