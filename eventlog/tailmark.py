"""The tail sidecar `.loki/events/log.tail`: where the last completed append ended.

Every lock holder (Python and the bash emitter) rewrites it after each append, before the
append is acknowledged, so it is both

- the high-water mark of acknowledged seqs: no writer hands out a seq at or below it, even
  when lines or whole segments were lost (the log must then be repaired, never reused); and
- a cheap description of the active segment's tail: a writer whose `stat` of the segment
  shows the recorded inode and size knows the last seq without reading the file. Bytes past
  the recorded size were written by a holder that died (or failed) before finishing its
  append: they were never acknowledged, and the next holder cuts them (a half-written batch
  is removed whole, not just its last torn line).

Format, one line of fixed width (so it is rewritten in place with one write), readable with
bash's `read`::

    1 <segment file name> <inode> <size> <last seq>\\n

``1`` is the format version; inode, size and last seq are zero-padded to 20 digits (bash
reads them as ``10#$n``). A missing or unparseable sidecar costs only speed: the tail is read
from the segment instead. One that disagrees with the segment it names is not trusted.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import msgspec

from . import forks
from .fsutil import fsync_dir

VERSION = "1"
_PATTERN = re.compile(rb"1 ([0-9]{20}\.jsonl) ([0-9]{20}) ([0-9]{20}) ([0-9]{20})\n")


class TailMark(msgspec.Struct, frozen=True):
    """The active segment's tail after the last completed append."""

    segment: str
    inode: int
    size: int
    last_seq: int


def format_mark(mark: TailMark) -> bytes:
    """The sidecar's one line for ``mark``."""
    return b"1 %s %020d %020d %020d\n" % (mark.segment.encode(), mark.inode, mark.size, mark.last_seq)


def parse_mark(data: bytes) -> TailMark | None:
    """Parse the sidecar's bytes; None for anything but one well-formed line."""
    match = _PATTERN.fullmatch(data)
    if match is None:
        return None
    name, inode, size, last = match.groups()
    return TailMark(name.decode(), int(inode), int(size), int(last))


def read_mark(path: Path) -> TailMark | None:
    """Read the sidecar; None when it is missing or unreadable (that only costs speed)."""
    try:
        with open(path, "rb") as handle:
            return parse_mark(handle.read(256))
    except OSError:
        return None


class MarkWriter:
    """Rewrites the sidecar in place; only a holder of the log lock calls :meth:`write`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._generation = -1

    def write(self, mark: TailMark, durable: bool) -> None:
        """Record ``mark``; with ``durable`` it survives power loss like the append it follows.

        If the sidecar cannot be written it is removed, so that a stale one can never make
        the next holder cut bytes that were acknowledged; OSError only if that fails too.
        """
        self.write_line(format_mark(mark), durable)

    def write_line(self, line: bytes, durable: bool) -> None:
        """:meth:`write` for a line already formatted (the append path builds it directly)."""
        try:
            fd = self._fd if self._fd is not None and self._generation == forks.generation else self._descriptor()
            if os.pwrite(fd, line, 0) != len(line):
                raise OSError("short write")
            if durable:
                os.fdatasync(fd)
        except OSError:
            self.close()
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
            if durable:
                fsync_dir(self.path.parent)

    def read(self) -> TailMark | None:
        """The sidecar as it is now, through the descriptor :meth:`write` uses (one pread)."""
        try:
            fd = self._fd if self._fd is not None and self._generation == forks.generation else self._descriptor()
            return parse_mark(os.pread(fd, 256, 0))
        except OSError:
            return None

    def remove(self) -> None:
        """Forget the mark (the loss of the log's end was accepted)."""
        self.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            return
        fsync_dir(self.path.parent)

    def close(self) -> None:
        if self._fd is not None and self._generation == forks.generation:
            os.close(self._fd)
        self._fd = None

    def refresh(self) -> None:
        """Reopen if someone removed or replaced the sidecar: write the file its path names."""
        if self._fd is None or self._generation != forks.generation:
            return
        try:
            named = os.stat(self.path).st_ino
        except FileNotFoundError:
            named = None
        if named != os.fstat(self._fd).st_ino:
            self.close()

    def _descriptor(self) -> int:
        self.close()
        created = not self.path.exists()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        if os.fstat(fd).st_size > len(format_mark(TailMark("0" * 20 + ".jsonl", 0, 0, 0))):
            os.ftruncate(fd, 0)  # another format's longer line must not leave a tail behind
        if created:
            fsync_dir(self.path.parent)
        self._fd, self._generation = fd, forks.generation
        return fd
