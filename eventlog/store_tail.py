"""The tail of FileEventLog's active segment: finding it, repairing it, starting the next segment.

A mixin of :class:`eventlog.store.FileEventLog` (the attributes it uses are set there): every
method runs with the log lock held, except that a reader may look at the tail without it.
"""
from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from . import forks
from .coverage import cover_tail
from .errors import LogCorruptedError, LogTruncatedError
from .fsutil import fsync_dir, make_dirs
from .segments import Tail, cut_unfinished, find_tail, is_sealed, list_segments, seal, segment_name
from .tailmark import read_mark
from .verify import high_water_mark


class TailKeeping:
    """Where the next append goes, and that nothing acknowledged before it was lost."""

    def _current_tail(self) -> Tail:
        tail = self._tail
        if tail is not None and self._fd is not None and self._generation == forks.generation:
            # Segments are never replaced, only appended, cut by a lock holder, sealed or
            # (once sealed) compressed away: fstat on our descriptor sees all of that.
            st = os.fstat(self._fd)
            if st.st_nlink and not is_sealed(st.st_mode):
                if st.st_size == tail.size:
                    return tail
                followed = self._group.follow(tail.inode, st.st_size)  # other group-commit writers
                if followed is not None:
                    self._tail = Tail(tail.segment, tail.first_seq, *followed, st.st_size, tail.inode)
                    return self._tail
                return self._load_tail(tail.segment, tail.first_seq, reuse_fd=True)
        self._forget_tail()
        return self._load_active()

    def _load_active(self) -> Tail:
        segments = list_segments(self.paths.log_dir)
        if not segments:
            self._check_high_water(0)
            make_dirs(self.paths.log_dir)
            return self._create_segment(1)
        active = segments[-1]
        if active.compressed:
            raise LogCorruptedError(f"{active.path}: the newest segment is compressed; only sealed ones may be")
        tail = self._load_tail(active.path, active.first_seq, reuse_fd=False)
        self._check_high_water(tail.head_seq)
        if is_sealed(os.stat(active.path).st_mode):
            # A rotation was interrupted after sealing: finish it (its checksum included).
            seal(active.path)
            return self._create_segment(tail.head_seq + 1)
        return tail

    def _check_high_water(self, head_seq: int, seen: int | None = None) -> None:
        # Whole lines lost at the end leave a log that parses perfectly. Appending to it would
        # hand out seqs that cursors and snapshots already saw, so consumers would skip the new
        # events forever: refuse until someone accepts the loss (`lokilog verify --fix`).
        seen = high_water_mark(self.paths) if seen is None else seen
        if seen > head_seq:
            raise LogTruncatedError(
                f"the log ends at seq {head_seq} but seq {seen} was stored before: "
                "acknowledged events were lost or the log was replaced. Run `lokilog verify` for "
                "details; `lokilog verify --fix` accepts the loss and re-indexes"
            )

    def _load_tail(self, segment: Path, first_seq: int, reuse_fd: bool) -> Tail:
        if not reuse_fd or self._fd is None:
            self._close_fd()
            self._fd = open_segment(segment, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
            self._generation = forks.generation
        self._marks.refresh()
        mark = read_mark(self.paths.tail_file)
        inode = os.fstat(self._fd).st_ino
        before = len(self.cuts)
        if mark is not None and mark.segment == segment.name and mark.inode == inode:
            # Past the sidecar and past every complete append still waiting for its fsync.
            end = self._group.vouched_end(inode, mark.size, mark.last_seq)
            cut = None if end is None else cut_unfinished(self._fd, segment, first_seq, *end, self.paths.quarantine)
            if cut is not None:
                self.cuts.append(cut)
        tail, cuts = find_tail(self._fd, segment, first_seq, self.paths.quarantine)
        self.cuts.extend(cuts)
        if len(self.cuts) != before:
            self._group.invalidate()
        if not self._group.boot.trusted():
            self._group.adopt_boot(self._fd, segment.name, tail.inode, tail.size, tail.head_seq)
        try:
            cover_tail(self._fd, self.paths.log_dir, first_seq, tail.size)  # lines bash wrote
        except OSError:
            pass  # only coverage is lost: verify counts those lines as not covered
        if mark is not None:
            self._check_high_water(tail.head_seq, mark.last_seq)
        self._tail = tail
        return tail

    def _create_segment(self, first_seq: int) -> Tail:
        self._close_fd()
        path = self.paths.log_dir / segment_name(first_seq)
        self._fd = open_segment(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC)
        self._generation = forks.generation
        fsync_dir(self.paths.log_dir)
        tail = self._load_tail(path, first_seq, reuse_fd=True)
        if tail.size == 0:
            # Name the new segment in the sidecar before any byte goes into it: a writer killed
            # inside the first append to it leaves bytes past a recorded end of 0, which the next
            # holder cuts whole as unfinished (with the old segment's mark it would keep the
            # complete lines of a half-written batch).
            self._record_tail(tail, 0, first_seq - 1, durable=False)
        return tail

    def _rotate(self, tail: Tail) -> Tail:
        # Seal first, then create the successor: a crash in between leaves a sealed newest
        # segment, which the next writer notices and finishes; the other order would let a
        # stale writer keep appending to the old segment.
        os.fsync(self._fd)
        seal(tail.segment)
        return self._create_segment(tail.head_seq + 1)

    def _forget_tail(self) -> None:
        self._close_fd()
        self._tail = None

    def _close_fd(self) -> None:
        if self._fd is not None and self._generation == forks.generation:
            os.close(self._fd)
        self._fd = None


def open_segment(path: Path, flags: int) -> int:
    # Never through a link: a segment linked to a file elsewhere would be cut and written to.
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LogCorruptedError(f"{path}: is a symbolic link; lokilog appends only to its own files") from None
        if exc.errno in (errno.EISDIR, errno.ENXIO, errno.ENODEV, errno.EOPNOTSUPP):
            raise LogCorruptedError(f"{path}: is not a regular file; lokilog appends only to its own files") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # a FIFO would block the first read of the tail
        os.close(fd)
        raise LogCorruptedError(f"{path}: is not a regular file; lokilog appends only to its own files")
    os.set_blocking(fd, True)  # only there for the open: appends to a regular file never block anyway
    return fd
