"""Streaming, lock-free reads over all segments, in constant memory.

Readers never take the log lock: writers append whole lines under it, so a reader stops at
the last newline it sees and never yields a torn or in-flight line.
"""
from __future__ import annotations

import bisect
import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

import msgspec

from .codec import CRC_MEMBER, check_line, decode_chunk, decode_chunk_for, decode_event, decode_raw, iter_lines
from .errors import ChecksumError, EventDecodeError, SeqGapError
from .events import Event, RawEvent
from .segments import Segment, list_segments
from .tailmark import read_mark

if TYPE_CHECKING:  # pragma: no cover - annotations only: a log without an index is read without sqlite
    from .index import EventIndex

#: How many chunks a mostly-read mix of types is trusted for before it is looked at again.
_RECHECK = 15

#: Bytes decoded at a time. A batch that still fits in the CPU cache when a fold touches it
#: makes a run-state rebuild about twice as fast as 1 MB chunks do (scripts/bench).
CHUNK_BYTES = 64 * 1024


class BadLine(msgspec.Struct, frozen=True):
    """A line inside the log that is not a valid event: reported and skipped, never fatal."""

    segment: Path
    offset: int
    length: int
    reason: str


OnBadLine = Callable[[BadLine], None]


def scan(
    log_dir: Path,
    from_seq: int = 1,
    to_seq: int | None = None,
    *,
    raw: bool = False,
    index: EventIndex | None = None,
    on_bad_line: OnBadLine | None = None,
    checksums: bool = False,
) -> Iterator[Event] | Iterator[RawEvent]:
    """Yield stored events with ``from_seq <= seq <= to_seq`` in seq order."""
    for batch in BatchScanner(log_dir, index, on_bad_line, raw=raw, checksums=checksums).batches(from_seq, to_seq):
        yield from batch


class BatchScanner:
    """Batch reads over one log directory, resuming where the previous read stopped.

    Each batch is the events of one chunk of a segment, as a list: folds iterate them with
    ``itertools.chain.from_iterable`` and skip a generator hop per event. The scanner also
    remembers the byte position where its last read stopped, so a follower that reads
    "everything after seq N" again and again (the watch daemon) starts there. A remembered
    position, like an index mark, is checked: if the event found there is not the one
    expected, the segment is read from its start.
    """

    def __init__(self, log_dir: Path, index: EventIndex | None = None, on_bad_line: OnBadLine | None = None,
                 raw: bool = False, checksums: bool = False) -> None:
        self.log_dir = log_dir
        self.checksums = checksums  # check every line's crc (ChecksumError on a mismatch)
        self.index = index
        self.on_bad_line = on_bad_line
        self.raw = raw
        self._mark: tuple[int, int, int] | None = None  # (segment first seq, offset, next seq)
        self._dense_for = 0  # chunks still to decode in full without looking at their types

    def batches(self, from_seq: int = 1, to_seq: int | None = None,
                types: frozenset[str] | None = None) -> Iterator[list]:
        """Yield non-empty lists of stored events with ``from_seq <= seq <= to_seq``, in seq order.

        With ``types``, only events of those types are decoded in full; the others are
        yielded as envelopes (seq, id, type), which is all a fold needs to move past them,
        or in full too where most events are of those types (one decode is cheaper then).
        """
        segments = list_segments(self.log_dir)
        position = _start(segments, from_seq)
        last_seq = from_seq - 1
        while position is not None:
            segment = segments[position]
            is_last = position == len(segments) - 1
            offset, expect = self._seek(segment, from_seq) if last_seq < from_seq else (0, None)
            for batch, end in self._segment(segment, offset, expect, is_last, types):
                whole = batch[0].seq >= from_seq and (to_seq is None or batch[-1].seq <= to_seq)
                if not whole:
                    batch = [e for e in batch if e.seq >= from_seq and (to_seq is None or e.seq <= to_seq)]
                # Only a batch read to its end says where the next read may start.
                self._mark = (segment.first_seq, end, batch[-1].seq + 1) if whole and batch else None
                if batch:
                    last_seq = batch[-1].seq
                    yield batch
                if to_seq is not None and last_seq >= to_seq:
                    return
            position = position + 1 if position + 1 < len(segments) else None
            if position is None:
                # Writers may have rotated while we read: pick up segments created since.
                fresh = [s for s in list_segments(self.log_dir) if s.first_seq > segment.first_seq]
                if fresh:
                    segments, position = fresh, 0

    def _seek(self, segment: Segment, from_seq: int) -> tuple[int, int | None]:
        mark = self._mark
        if mark is not None and mark[0] == segment.first_seq and mark[2] == from_seq and not segment.compressed:
            return mark[1], from_seq
        return _seek(self.index, segment, from_seq)

    def _segment(self, segment: Segment, offset: int, expect: int | None, is_last: bool,
                 types: frozenset[str] | None = None):
        try:
            handle = segment.open()
        except FileNotFoundError:  # compressed or removed between listing and opening
            return
        with handle:
            if offset:
                handle.seek(offset)
            # The active segment is read up to the end of the last completed append: bytes
            # after it belong to a writer still appending, or one that died, whose next lock
            # holder cuts them. A reader must never hand out an event that later vanishes.
            limit = committed_end(self.log_dir, segment, handle.fileno()) if is_last and not segment.compressed else None
            position = offset
            leftover = b""
            base = offset
            first = True
            while True:
                want = CHUNK_BYTES if limit is None else min(CHUNK_BYTES, limit - position)
                data = handle.read(want) if want > 0 else b""
                if not data:
                    break
                position += len(data)
                buffer = leftover + data if leftover else data
                cut = buffer.rfind(b"\n") + 1
                leftover = buffer[cut:]
                if not cut:
                    continue
                if self.checksums:
                    _check_checksums(buffer[:cut], base, segment)
                # Where most events are of the types asked for, decode_chunk_for decodes the
                # envelopes and then every line in full anyway: decode in full straight away,
                # looking again at the mix every _RECHECK chunks.
                dense = types is not None and self._dense_for > 0
                events = decode_buffer(buffer[:cut], base, segment, self.raw, self.on_bad_line, None if dense else types)
                if dense:
                    self._dense_for -= 1
                    if not self._dense_for and _mostly(events, types):
                        self._dense_for = _RECHECK  # the decoded events show the mix: no envelope pass
                elif types is not None and events:
                    self._dense_for = _RECHECK if type(events[0]) is Event and type(events[-1]) is Event else 0
                if first and expect is not None and events and events[0].seq != expect:
                    # The mark no longer matches the file: read this segment from the start.
                    yield from self._segment(segment, 0, None, is_last, types)
                    return
                first = False
                base += cut
                if events:
                    yield events, base
            if leftover and not is_last and self.on_bad_line:
                self.on_bad_line(BadLine(segment.path, base, len(leftover), "sealed segment ends without a newline"))


def _mostly(events: list, types: frozenset[str]) -> bool:
    """Whether most of ``events`` (decoded in full) are of ``types``, as decode_chunk_for counts."""
    return sum(event.type in types for event in events) * 2 > len(events)


def committed_end(log_dir: Path, segment: Segment, fd: int) -> int | None:
    """Where the last completed append to the active segment ended, per the tail sidecar;
    None when the sidecar is missing or describes another file."""
    mark = read_mark(log_dir.parent / "log.tail")
    if mark is None or mark.segment != segment.path.name:
        return None
    try:
        st = os.fstat(fd)
    except OSError:
        return None
    return mark.size if st.st_ino == mark.inode and mark.size <= st.st_size else None


def _check_checksums(chunk: bytes, base: int, segment: Segment) -> None:
    if CRC_MEMBER not in chunk and b'"}\n' not in chunk:
        return
    for offset, line in iter_lines(chunk, base):
        if check_line(line) is False:
            raise ChecksumError(f"{segment.path.name} at byte {offset}: the line's bytes do not match its crc "
                                "(a bit flip or an edit); run `lokilog verify`")


def dense(events: Iterator, from_seq: int, log_dir: Path) -> Iterator:
    """Pass ``events`` through, raising SeqGapError where a seq is missing (a lost segment
    or lines): a reader must not jump from seq 120 to 241 as if nothing happened."""
    expected = from_seq
    for event in events:
        if event.seq != expected:
            raise SeqGapError(expected - 1, event.seq, log_dir)
        expected = event.seq + 1
        yield event


def scan_batches(
    log_dir: Path, from_seq: int = 1, to_seq: int | None = None, *,
    index: EventIndex | None = None, on_bad_line: OnBadLine | None = None,
) -> Iterator[list[Event]]:
    """Yield non-empty lists of stored events with ``from_seq <= seq <= to_seq``, in seq order."""
    return BatchScanner(log_dir, index, on_bad_line).batches(from_seq, to_seq)


def _start(segments: list[Segment], from_seq: int) -> int | None:
    if not segments:
        return None
    firsts = [s.first_seq for s in segments]
    return max(bisect.bisect_right(firsts, from_seq) - 1, 0)


def _seek(index: EventIndex | None, segment: Segment, from_seq: int) -> tuple[int, int | None]:
    if index is None or segment.compressed or from_seq <= segment.first_seq:
        return 0, None
    try:
        mark = index.seek(from_seq)
    except Exception:  # a missing or half-built index only costs speed
        return 0, None
    if mark is None or mark[1] != segment.first_seq:
        return 0, None
    return mark[2], mark[0]


def decode_buffer(chunk: bytes, base: int, segment: Segment, raw: bool = False, on_bad_line: OnBadLine | None = None,
                  types: frozenset[str] | None = None) -> list:
    """Decode a buffer of whole lines read at byte ``base`` of ``segment``; bad lines are reported and skipped."""
    events = decode_chunk(chunk, raw) if types is None or raw else decode_chunk_for(chunk, types)
    if events is not None:
        return events
    decode = decode_raw if raw else decode_event
    out = []
    for offset, line in iter_lines(chunk, base):
        try:
            out.append(decode(line))
        except EventDecodeError as exc:
            if on_bad_line:
                on_bad_line(BadLine(segment.path, offset, len(line) + 1, str(exc)))
    return out


def entries_after(log_dir: Path, segment_first: int, offset: int, on_bad_line: OnBadLine | None = None):
    """Yield ``(RawEvent, segment first seq, start offset, end offset)`` from a byte position on.

    Used to bring the index up to date: it starts where the index stopped, so its cost is
    the number of events the index has not seen, not the size of the log.
    """
    for segment in list_segments(log_dir):
        if segment.first_seq < segment_first:
            continue
        start = offset if segment.first_seq == segment_first else 0
        with segment.open() as handle:
            if start:
                handle.seek(start)
            data = handle.read()
        cut = data.rfind(b"\n") + 1
        for line_offset, line in iter_lines(data[:cut], start):
            try:
                event = decode_raw(line)
            except EventDecodeError as exc:
                if on_bad_line:
                    on_bad_line(BadLine(segment.path, line_offset, len(line) + 1, str(exc)))
                continue
            yield event, segment.first_seq, line_offset, line_offset + len(line) + 1
