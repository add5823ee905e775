"""Streaming, lock-free reads over all segments, in constant memory.

Readers never take the log lock: writers append whole lines under it, so a reader stops at
the last newline it sees and never yields a torn or in-flight line.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from .codec import decode_chunk, decode_event, decode_raw, iter_lines
from .errors import EventDecodeError
from .events import Event, RawEvent
from .index import EventIndex
from .segments import Segment, list_segments

CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class BadLine:
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
) -> Iterator[Event] | Iterator[RawEvent]:
    """Yield stored events with ``from_seq <= seq <= to_seq`` in seq order."""
    segments = list_segments(log_dir)
    position = _start(segments, from_seq)
    last_seq = from_seq - 1
    while position is not None:
        seg_index = position
        segment = segments[seg_index]
        is_last = seg_index == len(segments) - 1
        offset, expect = _seek(index, segment, from_seq) if last_seq < from_seq else (0, None)
        for event in _scan_segment(segment, offset, expect, raw, is_last, on_bad_line):
            if event.seq < from_seq:
                continue
            if to_seq is not None and event.seq > to_seq:
                return
            last_seq = event.seq
            yield event
        position = seg_index + 1 if seg_index + 1 < len(segments) else None
        if position is None:
            # Writers may have rotated while we read: pick up segments created since.
            fresh = [s for s in list_segments(log_dir) if s.first_seq > segment.first_seq]
            if fresh:
                segments, position = fresh, 0


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


def _scan_segment(segment, offset, expect, raw, is_last, on_bad_line):
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
            events = _decode(buffer[:cut], base, segment, raw, on_bad_line)
            if first and expect is not None and events and events[0].seq != expect:
                # The index's mark no longer matches the file: read this segment from the start.
                yield from _scan_segment(segment, 0, None, raw, is_last, on_bad_line)
                return
            first = False
            base += cut
            yield from events
        if leftover and not is_last and on_bad_line:
            on_bad_line(BadLine(segment.path, base, len(leftover), "sealed segment ends without a newline"))


def _decode(chunk: bytes, base: int, segment: Segment, raw: bool, on_bad_line) -> list:
    events = decode_chunk(chunk, raw)
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
