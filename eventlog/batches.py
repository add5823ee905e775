"""Reads in batches: the events of each chunk of a segment as one list.

The same walk as ``reader.scan`` (index seek, rotation while reading, torn tails left alone,
bad lines reported and skipped), minus the per-event generator hops, which cost a rebuild
more than decoding does. Folds iterate the lists with ``itertools.chain.from_iterable``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from .events import Event
from .index import EventIndex
from .reader import CHUNK_BYTES, OnBadLine, _decode, _seek, _start
from .segments import list_segments


def scan_batches(
    log_dir: Path, from_seq: int = 1, to_seq: int | None = None, *,
    index: EventIndex | None = None, on_bad_line: OnBadLine | None = None,
) -> Iterator[list[Event]]:
    """Yield non-empty lists of stored events with ``from_seq <= seq <= to_seq``, in seq order."""
    segments = list_segments(log_dir)
    position = _start(segments, from_seq)
    last_seq = from_seq - 1
    while position is not None:
        segment = segments[position]
        is_last = position == len(segments) - 1
        offset, expect = _seek(index, segment, from_seq) if last_seq < from_seq else (0, None)
        for batch in _segment_batches(segment, offset, expect, is_last, on_bad_line):
            if batch[0].seq < from_seq or (to_seq is not None and batch[-1].seq > to_seq):
                batch = [e for e in batch if e.seq >= from_seq and (to_seq is None or e.seq <= to_seq)]
                if not batch:
                    if to_seq is not None and last_seq >= to_seq:
                        return
                    continue
            last_seq = batch[-1].seq
            yield batch
            if to_seq is not None and last_seq >= to_seq:
                return
        position = position + 1 if position + 1 < len(segments) else None
        if position is None:
            # Writers may have rotated while we read: pick up segments created since.
            fresh = [s for s in list_segments(log_dir) if s.first_seq > segment.first_seq]
            if fresh:
                segments, position = fresh, 0


def _segment_batches(segment, offset, expect, is_last, on_bad_line) -> Iterator[list[Event]]:
    from .reader import BadLine

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
            events = _decode(buffer[:cut], base, segment, False, on_bad_line)
            if first and expect is not None and events and events[0].seq != expect:
                # The index's mark no longer matches the file: read this segment from the start.
                yield from _segment_batches(segment, 0, None, is_last, on_bad_line)
                return
            first = False
            base += cut
            if events:
                yield events
        if leftover and not is_last and on_bad_line:
            on_bad_line(BadLine(segment.path, base, len(leftover), "sealed segment ends without a newline"))
