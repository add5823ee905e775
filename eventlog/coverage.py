"""Checksums for lines written without one (the bash emitter), recorded by the next lock holder.

A Python writer ends every line with its crc member (eventlog/codec.py); bash cannot compute a
CRC-32 cheaply. So every Python lock holder, when it loads the tail, looks at the lines at the
end of the active segment that carry no crc and records theirs beside the segment, in
``<first seq>.crc``: one line per covered log line, ``<byte offset> <length> <crc32 hex>``.
From then on a flipped bit in such a line is caught like any other (``lokilog verify``);
lines not yet covered (the lock holder after them was bash, or none came yet) are counted.
"""
from __future__ import annotations

import os
import zlib
from pathlib import Path

from .codec import check_line
from .segments import last_line


def coverage_path(log_dir: Path, first_seq: int) -> Path:
    """The file of recorded checksums for one segment's crc-less lines."""
    return log_dir / f"{first_seq:020d}.crc"


def read_coverage(path: Path) -> dict[int, tuple[int, int]]:
    """offset -> (length, crc32) for every recorded line; damaged entries are skipped."""
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return {}
    found = {}
    for entry in text.split(b"\n"):
        parts = entry.split()
        if len(parts) == 3 and parts[0].isdigit() and parts[1].isdigit():
            try:
                found[int(parts[0])] = (int(parts[1]), int(parts[2], 16))
            except ValueError:
                continue
    return found


def cover_tail(fd: int, log_dir: Path, first_seq: int, end: int) -> int:
    """Record checksums for the crc-less lines that end the segment at ``end``; return how many.

    Cheap when the last line has a crc (the common case: one read of the tail, which the
    caller just did anyway).
    """
    last = last_line(fd, end)
    if last is None or not last[2] or check_line(last[1]) is not None:
        return 0
    path = coverage_path(log_dir, first_seq)
    known = read_coverage(path)
    new = []
    while last is not None and last[2] and check_line(last[1]) is None and last[0] not in known:
        start, line, _ = last
        new.append(b"%d %d %08x\n" % (start, len(line), zlib.crc32(line)))
        last = last_line(fd, start)
    if new:
        out = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            os.write(out, b"".join(reversed(new)))
        finally:
            os.close(out)
    return len(new)
