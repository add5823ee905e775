"""Reading Loki Mode's flat `events.jsonl` (and its rotation `.1`): which file it is, from where
to read it, and its lines in chunks. A file is its inode plus a digest of its first line, so a
rotation (a rename) keeps its cursor and a truncated and rewritten file is read again."""
from __future__ import annotations

import hashlib
import os
import stat as stat_mod
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

from ..errors import EventDecodeError, UnsafeFileError
from ..ingest_watch import flat_path
from ..safeio import check_json_depth
from .parse import FlatLine, Record, complete_lines, parse_flat, salvage
from .state import Cursor

#: Bytes of a flat file read at a time.
CHUNK = 4 * 1024 * 1024
#: A flat file's first line identifies it across renames (rotation) and copies.
_FIRST_LINE_MAX = 64 * 1024


@dataclass
class Flat:
    path: Path
    handle: BinaryIO
    generation: str
    inode: int
    start: int
    end: int
    rewrites: int
    reset: bool = False


def open_flat(path: Path, cursors: dict[str, Cursor]) -> Flat | None:
    # The handle stays open for the whole pass: a rotation (a rename) or a second rotation
    # (replacing .1) during the pass cannot take the bytes away from under it.
    try:
        # O_NONBLOCK: a FIFO named events.jsonl must not block the pass; links are not followed.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None  # missing, or a link: Loki Mode writes a regular file here
    handle = os.fdopen(fd, "rb")
    st = os.fstat(handle.fileno())
    if not stat_mod.S_ISREG(st.st_mode):
        handle.close()
        return None
    first = handle.readline(_FIRST_LINE_MAX) if stat_mod.S_ISREG(st.st_mode) else b""
    if not first.endswith(b"\n") and len(first) < _FIRST_LINE_MAX:
        handle.close()
        return None  # not even one whole line yet (a longer one is identified by its start)
    # Loki Mode rotates by rename, which keeps the inode: the file is its inode, and its first
    # line guards against a truncated and rewritten file. Content alone cannot tell a copy
    # from a new file that starts with the same line (run.sh repeats lines within a second).
    generation = f"{inode_id(st)}:{hashlib.sha256(first).hexdigest()[:32]}"
    cursor = cursors.get(generation)
    start, rewrites, reset = (cursor.offset, cursor.rewrites, False) if cursor else (0, 0, False)
    if st.st_size < start:
        # Truncated and rewritten with the same first line: read it again from the start.
        start, rewrites, reset = 0, rewrites + 1, True
    return Flat(path, handle, generation, st.st_ino, start, st.st_size, rewrites, reset)


def inode_id(st: os.stat_result) -> str:
    return f"{st.st_dev}:{st.st_ino}"


def present_inodes(root: Path) -> set[str]:
    found = set()
    for rotation in (1, 0):
        try:
            found.add(inode_id(os.stat(flat_path(root, rotation))))
        except FileNotFoundError:
            continue
    return found


def read_lines(handle: BinaryIO, start: int, end: int) -> Iterator[tuple[list[FlatLine], int]]:
    offset = start
    carry = b""
    handle.seek(start)
    while offset + len(carry) < end:
        chunk = handle.read(min(CHUNK, end - offset - len(carry)))
        if not chunk:
            return
        buffer = carry + chunk
        lines, done = complete_lines(buffer, offset)
        carry = buffer[done - offset:]
        if lines:
            yield lines, done
        offset = done


def flat_records(line: FlatLine) -> Iterator[tuple[Record | None, str | None]]:
    try:
        check_json_depth(line.data, what="the line")
    except UnsafeFileError as exc:
        yield None, str(exc)  # not salvaged either: every parse would recurse as deep
        return
    try:
        yield parse_flat(line.data), None
        return
    except EventDecodeError as exc:
        problem = str(exc)
    split = salvage(line.data)
    if split is None:
        yield None, problem
        return
    garbage, tail = split
    yield None, f"{len(garbage)} bytes of an interrupted write before a whole event (kept the event)"
    yield parse_flat(tail), None


