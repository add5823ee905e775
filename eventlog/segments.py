"""Segment files of the log: naming, listing, and finding (and repairing) the tail.

A segment is named by the seq of its first event, zero-padded to 20 digits. The newest is
the active one; older ones are sealed (made read-only) and never change. Sealed segments may
be gzip-compressed (``.jsonl.gz``); readers open them transparently.
"""
from __future__ import annotations

import errno
import os
import stat
import time
from pathlib import Path
from typing import IO

import msgspec

from .codec import decode_event
from .errors import EventDecodeError, LogCorruptedError, UnsafeFileError
from .fsutil import atomic_write, fsync_dir, make_dirs, write_new_file
from .safeio import read_small

SUFFIX = ".jsonl"
#: Quarantine files holding a whole, valid event that had to be cut (reported by verify).
QUARANTINED_EVENT = ".event"
GZ_SUFFIX = ".jsonl.gz"
_BLOCK = 64 * 1024


class Segment(msgspec.Struct, frozen=True):
    """One segment file and the seq its name says it starts at."""

    first_seq: int
    path: Path

    @property
    def compressed(self) -> bool:
        return self.path.name.endswith(GZ_SUFFIX)

    def open(self) -> IO[bytes]:
        """Open for reading, decompressing a sealed ``.gz`` segment on the fly.

        A planted link or FIFO under a segment's name is refused: a reader must neither read
        a file outside `.loki/` (or /dev/zero) nor block on a FIFO.
        """
        if self.compressed:
            _check_regular(self.path, os.lstat(self.path).st_mode)
            import gzip  # here: only sealed segments need it, and every append imports this module

            return gzip.open(self.path, "rb")
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                _check_regular(self.path, stat.S_IFLNK)
            raise
        try:
            _check_regular(self.path, os.fstat(fd).st_mode)
        except BaseException:
            os.close(fd)
            raise
        return os.fdopen(fd, "rb")


def _check_regular(path: Path, mode: int) -> None:
    if not stat.S_ISREG(mode):
        kind = "a symbolic link" if stat.S_ISLNK(mode) else "not a regular file"
        raise LogCorruptedError(f"{path}: is {kind}; lokilog reads and appends only its own segment files")


def segment_name(first_seq: int) -> str:
    """Return the file name of the segment whose first event has ``first_seq``."""
    return f"{first_seq:020d}{SUFFIX}"


def parse_segment_name(name: str) -> int | None:
    """Return the first seq a segment file name encodes, or None for other files."""
    for suffix in (SUFFIX, GZ_SUFFIX):
        if name.endswith(suffix):
            stem = name[: -len(suffix)]
            if len(stem) == 20 and stem.isdigit():
                return int(stem)
    return None


def list_segments(log_dir: Path) -> list[Segment]:
    """List the segments of a log directory in seq order (empty if it does not exist)."""
    try:
        names = os.listdir(log_dir)
    except FileNotFoundError:
        return []
    found: dict[int, Segment] = {}
    for name in names:
        first = parse_segment_name(name)
        # A plain segment wins over a compressed copy left by an interrupted compression.
        if first is not None and (first not in found or name.endswith(SUFFIX)):
            found[first] = Segment(first, log_dir / name)
    return [found[k] for k in sorted(found)]


def is_sealed(mode: int) -> bool:
    """A segment is sealed when nobody may write it any more (mode without write bits)."""
    return not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


def seal(path: Path) -> None:
    """Seal a segment: drop its write bits so stale writers notice rotation with one stat, and
    record the sha256 of its bytes, so a bit flipped later (even inside a payload, where the
    line still parses) is caught by ``lokilog verify``."""
    os.chmod(path, 0o444)
    first = parse_segment_name(path.name)
    sidecar = checksum_path(path.parent, first)
    if first is not None and not sidecar.exists():
        digest = file_digest(Segment(first, path))
        atomic_write(sidecar, f"{digest}  {segment_name(first)}\n".encode())


def checksum_path(log_dir: Path, first_seq: int | None) -> Path:
    """Where a sealed segment's checksum lives: ``<first seq>.sha256``, in sha256sum's format."""
    return log_dir / f"{first_seq or 0:020d}.sha256"


def file_digest(segment: Segment) -> str:
    """The sha256 of a segment's (uncompressed) bytes."""
    import hashlib  # here: loading OpenSSL is a large part of an append's start-up, which needs no digest

    digest = hashlib.sha256()
    with segment.open() as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def recorded_digest(segment: Segment) -> str | None:
    """The sha256 recorded when the segment was sealed, or None (not sealed by this version)."""
    try:
        text = read_small(checksum_path(segment.path.parent, segment.first_seq), json_depth_limit=None).decode()
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    except UnsafeFileError:
        return ""  # a planted link or FIFO is no recorded digest: verify reports the mismatch
    return text.split(maxsplit=1)[0] if text.strip() else ""


class TailCut(msgspec.Struct, frozen=True):
    """Bytes removed from the end of the active segment because they were torn or invalid."""

    segment: Path
    offset: int
    length: int
    saved_as: Path
    reason: str


class Tail(msgspec.Struct, frozen=True):
    """What a writer must know about the active segment to append to it."""

    segment: Path
    first_seq: int
    head_seq: int
    head_id: str | None
    size: int
    inode: int


def find_tail(
    fd: int, segment: Path, first_seq: int, quarantine: Path | None
) -> tuple[Tail, list[TailCut]]:
    """Return the active segment's tail, cutting torn or unparseable final lines into quarantine.

    With ``quarantine`` None nothing is cut: the tail is the last valid line (for readers).
    Cutting needs the log lock: only a lock holder may truncate.
    """
    cuts: list[TailCut] = []
    size = os.fstat(fd).st_size
    while True:
        last = last_line(fd, size)
        if last is None:
            head_seq, head_id = first_seq - 1, None
            break
        start, line, complete = last
        event, reason = _check_final_line(fd, start, line, complete, first_seq)
        if event is not None:
            head_seq, head_id = event.seq, event.id
            break
        if quarantine is not None:
            # A whole, valid event is never an interrupted write: something else went wrong
            # (two writers without one lock, an edited file). It is saved as `.event`, which
            # verify reports, never cut silently.
            suffix = QUARANTINED_EVENT if _is_event(line, complete) else ".torn"
            cuts.append(_cut(fd, segment, start, size, quarantine, reason, suffix))
        size = start
    st = os.fstat(fd)
    return Tail(segment, first_seq, head_seq, head_id, size, st.st_ino), cuts


def _check_final_line(fd: int, start: int, line: bytes, complete: bool, first_seq: int):
    """Return (event, None) for a valid final line, else (None, why it must be cut)."""
    if not complete:
        return None, "final line has no newline (torn write)"
    try:
        event = decode_event(line)
    except EventDecodeError as exc:
        return None, f"final line does not parse: {exc}"
    previous = last_line(fd, start)
    if previous is None:
        if event.seq != first_seq:
            return None, f"final line has seq {event.seq}, its segment starts at {first_seq}"
        return event, None
    before = _seq_of(previous[1])
    if before is not None and event.seq != before + 1:
        return None, f"final line has seq {event.seq} right after seq {before}"
    return event, None


def _seq_of(line: bytes) -> int | None:
    try:
        return decode_event(line).seq
    except EventDecodeError:
        return None


def last_line(fd: int, end: int) -> tuple[int, bytes, bool] | None:
    """Return (start offset, bytes, ends with newline) of the last line before ``end``."""
    if end <= 0:
        return None
    complete = os.pread(fd, 1, end - 1) == b"\n"
    body_end = end - 1 if complete else end
    pos = body_end
    chunks: list[bytes] = []
    while pos > 0:
        step = min(_BLOCK, pos)
        block = os.pread(fd, step, pos - step)
        nl = block.rfind(b"\n")
        if nl >= 0:
            chunks.append(block[nl + 1 :])
            pos = pos - step + nl + 1
            break
        chunks.append(block)
        pos -= step
    line = b"".join(reversed(chunks))
    return pos, line, complete


def _is_event(line: bytes, complete: bool) -> bool:
    if not complete:
        return False
    try:
        decode_event(line)
        return True
    except EventDecodeError:
        return False


def cut_unfinished(
    fd: int, segment: Path, first_seq: int, end: int, last_seq: int, quarantine: Path
) -> TailCut | None:
    """Cut everything after ``end``, where the last completed append (seq ``last_seq``) ended.

    The bytes after it were written by a lock holder that died or failed before it recorded
    its append as complete (eventlog/tailmark.py), so none of them was acknowledged: a batch
    cut short by kill -9 goes whole, not only its torn last line. Nothing is cut unless the
    line ending at ``end`` really is seq ``last_seq`` (a sidecar that does not describe this
    file is not trusted).
    """
    size = os.fstat(fd).st_size
    if end >= size:
        return None
    if end == 0:
        if last_seq != first_seq - 1:
            return None
    else:
        last = last_line(fd, end)
        if last is None or not last[2] or _seq_of(last[1]) != last_seq:
            return None
    return _cut(fd, segment, end, size, quarantine,
                f"written after the last completed append (seq {last_seq}) by a writer that did not finish",
                ".unfinished")


def _cut(fd: int, segment: Path, offset: int, size: int, quarantine: Path, reason: str,
         suffix: str = ".torn") -> TailCut:
    # Save the bytes before truncating them: a cut must never destroy evidence.
    data = os.pread(fd, size - offset, offset)
    make_dirs(quarantine)
    saved = quarantine / f"{segment.name}.{offset}.{time.time_ns()}{suffix}"
    write_new_file(saved, data)
    fsync_dir(quarantine)
    os.ftruncate(fd, offset)
    os.fsync(fd)
    return TailCut(segment, offset, size - offset, saved, reason)
