"""Reads in batches: the events of each chunk of a segment as one list.

The same walk as ``reader.scan`` (index seek, rotation while reading, torn tails left alone,
bad lines reported and skipped), minus the per-event generator hops, which cost a rebuild
more than decoding does. Folds iterate the lists with ``itertools.chain.from_iterable``.

A :class:`BatchScanner` also remembers the byte position where its last read stopped: a
follower that reads "everything after seq N" again and again (the watch daemon) then starts
there instead of at the segment's start, whether or not the index has a mark for N. The
remembered position is checked like an index mark: if the event found there is not the one
expected, the segment is read from its start.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from .events import Event
from .index import EventIndex
from .reader import BadLine, OnBadLine, _decode, _seek, _start
from .segments import Segment, list_segments

#: Bytes decoded at a time. Smaller than the reader's chunk on purpose: a fold touches each
#: batch right after decoding it, and a batch that still fits in the CPU cache makes a
#: run-state rebuild about twice as fast as 1 MB batches do (scripts/bench).
CHUNK_BYTES = 64 * 1024


class BatchScanner:
    """Batch reads over one log directory, resuming where the previous read stopped."""

    def __init__(self, log_dir: Path, index: EventIndex | None = None, on_bad_line: OnBadLine | None = None) -> None:
        self.log_dir = log_dir
        self.index = index
        self.on_bad_line = on_bad_line
        self._mark: tuple[int, int, int] | None = None  # (segment first seq, offset, next seq)

    def batches(self, from_seq: int = 1, to_seq: int | None = None) -> Iterator[list[Event]]:
        """Yield non-empty lists of stored events with ``from_seq <= seq <= to_seq``, in seq order."""
        segments = list_segments(self.log_dir)
        position = _start(segments, from_seq)
        last_seq = from_seq - 1
        while position is not None:
            segment = segments[position]
            is_last = position == len(segments) - 1
            offset, expect = self._seek(segment, from_seq) if last_seq < from_seq else (0, None)
            for batch, end in self._segment(segment, offset, expect, is_last):
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

    def _segment(self, segment: Segment, offset: int, expect: int | None, is_last: bool):
        try:
            handle = segment.open()
        except FileNotFoundError:  # compressed or removed between listing and opening
            return
        with handle:
            if offset:
                handle.seek(offset)
            leftover = b""
            base = offset
            first = True
            while True:
                data = handle.read(CHUNK_BYTES)
                if not data:
                    break
                buffer = leftover + data if leftover else data
                cut = buffer.rfind(b"\n") + 1
                leftover = buffer[cut:]
                if not cut:
                    continue
                events = _decode(buffer[:cut], base, segment, False, self.on_bad_line)
                if first and expect is not None and events and events[0].seq != expect:
                    # The mark no longer matches the file: read this segment from the start.
                    yield from self._segment(segment, 0, None, is_last)
                    return
                first = False
                base += cut
                if events:
                    yield events, base
            if leftover and not is_last and self.on_bad_line:
                self.on_bad_line(BadLine(segment.path, base, len(leftover), "sealed segment ends without a newline"))


def scan_batches(
    log_dir: Path, from_seq: int = 1, to_seq: int | None = None, *,
    index: EventIndex | None = None, on_bad_line: OnBadLine | None = None,
) -> Iterator[list[Event]]:
    """Yield non-empty lists of stored events with ``from_seq <= seq <= to_seq``, in seq order."""
    return BatchScanner(log_dir, index, on_bad_line).batches(from_seq, to_seq)
