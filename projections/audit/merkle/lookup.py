"""Find one audit entry's stored line by its seq, by bisection over the chain's files (reads only)."""
from __future__ import annotations

import os
from pathlib import Path

from ..files import audit_dir, chain_files, first_line


def find_entry(loki_dir: Path, seq: int) -> bytes | None:
    """Return the chain line (without ``\\n``) of the entry for log seq ``seq``, or None if absent."""
    files = chain_files(audit_dir(Path(loki_dir)))
    firsts = [_seq(first_line(path)) for path in files]
    candidates = [path for path, first in zip(files, firsts) if first is not None and first <= seq]
    return _bisect_file(candidates[-1], seq) if candidates else None


def _seq(line: bytes | None) -> int | None:
    # Lines start with {"seq":N, by construction.
    if not line or not line.startswith(b'{"seq":'):
        return None
    digits = line[7:line.find(b",", 7)]
    return int(digits) if digits.isdigit() else None


def _bisect_file(path: Path, seq: int) -> bytes | None:
    """Bisect a file of lines sorted by seq on byte offsets: O(log size) reads."""
    with open(path, "rb") as handle:
        lo, hi = 0, os.fstat(handle.fileno()).st_size
        while lo < hi:
            mid = (lo + hi) // 2
            start, line = _line_at_or_after(handle, mid)
            found = _seq(line)
            if line is None or found is None or found >= seq:
                if found == seq:
                    return line
                hi = mid
            else:
                lo = start + len(line) + 1
        _, line = _line_at_or_after(handle, lo)
        return line if _seq(line) == seq else None


def _line_at_or_after(handle, offset: int) -> tuple[int, bytes | None]:
    """Return (start, line) of the first whole line starting at or after ``offset``."""
    if offset:
        handle.seek(offset - 1)
        handle.readline()  # the rest of the line ``offset`` falls in (or just its "\n")
    else:
        handle.seek(0)
    start = handle.tell()
    line = handle.readline()
    return start, (line[:-1] if line.endswith(b"\n") else None)
