"""Check a log's files: dense seqs, parseable lines, torn tails, and that nothing seen was lost.

Verification reads only. Each problem is a Finding naming its segment, byte offset and seq;
repairs (``lokilog verify --fix``) are done by the store, under the lock.
"""
from __future__ import annotations

import os
import zlib
from pathlib import Path
from typing import Callable

import msgspec

from .codec import check_line, decode_raw, iter_lines
from .coverage import coverage_path, read_coverage
from .errors import EventDecodeError
from .fsutil import atomic_write
from .layout import LokiPaths
from .segments import QUARANTINED_EVENT, Segment, is_sealed, list_segments, recorded_digest
from .safeio import read_small
from .tailmark import read_mark

_CHUNK = 4 * 1024 * 1024


class Finding(msgspec.Struct, frozen=True):
    """One problem in the log's files."""

    kind: str
    message: str
    segment: str | None = None
    offset: int | None = None
    seq: int | None = None

    def describe(self) -> str:
        where = ":".join(str(p) for p in (self.segment, self.offset) if p is not None)
        seq = f" (seq {self.seq})" if self.seq is not None else ""
        return f"{self.kind}: {where}{seq}: {self.message}" if where else f"{self.kind}{seq}: {self.message}"


class VerifyReport(msgspec.Struct):
    """The result of verifying a log: what was read, and every problem found."""

    events: int = 0
    segments: int = 0
    bytes: int = 0
    head_seq: int = 0
    high_water_mark: int = 0
    #: Lines with no crc of their own and none recorded beside the segment yet (older logs,
    #: the bash emitter before the next Python lock holder): their bytes cannot be checked.
    lines_without_checksum: int = 0
    findings: list[Finding] = msgspec.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict:
        out = msgspec.to_builtins(self)
        out["ok"] = self.ok
        return out


def verify_log(paths: LokiPaths, progress: Callable[[int, int], None] | None = None) -> VerifyReport:
    """Read every segment and return what is wrong with the log, if anything.

    ``progress(bytes read, bytes in all segments)`` is called after every chunk read.
    """
    report = VerifyReport()
    segments = list_segments(paths.log_dir)
    report.segments = len(segments)
    total = sum(_size(s.path) for s in segments) if progress is not None else 0
    expected = 1
    for position, segment in enumerate(segments):
        newest = position == len(segments) - 1
        expected = _verify_segment(segment, newest, expected, report, progress, total)
    report.head_seq = expected - 1
    marks = HighWater.of(paths)
    report.high_water_mark = marks.seq
    report.findings.extend(marks.problems)
    _check_tail_mark(paths, segments, report)
    _check_quarantine(paths.quarantine, report)
    if report.high_water_mark > report.head_seq:
        report.findings.append(Finding(
            "log_shorter_than_seen",
            f"the log ends at seq {report.head_seq} but seq {report.high_water_mark} was seen "
            "before (by the index, a cursor or a snapshot): events at the end were lost",
            seq=report.high_water_mark,
        ))
    return report


def _size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


def _verify_segment(segment: Segment, newest: bool, expected: int, report: VerifyReport,
                    progress: Callable[[int, int], None] | None = None, total: int = 0) -> int:
    name = segment.path.name
    if segment.first_seq != expected:
        report.findings.append(Finding(
            "segment_name_mismatch",
            f"segment is named for seq {segment.first_seq} but the next seq is {expected}",
            name, 0, expected,
        ))
    if not newest and not segment.compressed and not is_sealed(os.stat(segment.path).st_mode):
        report.findings.append(Finding("unsealed_segment", "an older segment is still writable", name))
    offset = 0
    leftover = b""
    recorded = None if newest else recorded_digest(segment)
    covered = read_coverage(coverage_path(segment.path.parent, segment.first_seq))
    import hashlib  # here: every append imports this module (the high-water mark), and needs no digest

    digest = hashlib.sha256()
    with segment.open() as handle:
        while True:
            data = handle.read(_CHUNK)
            if not data:
                break
            digest.update(data)
            buffer = leftover + data
            cut = buffer.rfind(b"\n") + 1
            leftover = buffer[cut:]
            expected = _verify_lines(buffer[:cut], offset, name, expected, report, covered)
            offset += cut
            if progress is not None:
                progress(report.bytes + offset, max(total, report.bytes + offset))
    report.bytes += offset + len(leftover)
    if recorded is None and not newest:
        report.findings.append(Finding(
            "checksum_missing",
            f"the sealed segment has no {segment.first_seq:020d}.sha256 beside it, so a change to its bytes "
            "cannot be seen",
            name, None, segment.first_seq,
        ))
    if recorded is not None and recorded != digest.hexdigest():
        report.findings.append(Finding(
            "sealed_segment_changed",
            "its bytes no longer match the sha256 recorded when it was sealed (a bit flip or an edit)",
            name, None, segment.first_seq,
        ))
    if leftover:
        kind = "torn_tail" if newest else "sealed_segment_torn"
        report.findings.append(Finding(
            kind, f"{len(leftover)} bytes at the end have no newline (an interrupted write)",
            name, offset, expected,
        ))
    return expected


def _verify_lines(chunk: bytes, base: int, name: str, expected: int, report: VerifyReport,
                  covered: dict[int, tuple[int, int]]) -> int:
    for offset, line in iter_lines(chunk, base):
        checked = check_line(line)
        if checked is None and offset in covered:
            checked = covered[offset] == (len(line), zlib.crc32(line))
        if checked is None:
            report.lines_without_checksum += 1
        elif not checked:
            report.findings.append(Finding(
                "checksum_mismatch", "the line's bytes do not match its crc (a bit flip or an edit)",
                name, offset, expected,
            ))
        try:
            seq = decode_raw(line).seq
        except EventDecodeError as exc:
            report.findings.append(Finding("bad_line", str(exc), name, offset, expected))
            continue
        if seq != expected:
            kind = "seq_gap" if seq > expected else "seq_out_of_order"
            report.findings.append(Finding(kind, f"found seq {seq}, expected {expected}", name, offset, seq))
        report.events += 1
        expected = max(expected, seq + 1)
    return expected


def _check_tail_mark(paths: LokiPaths, segments: list[Segment], report: VerifyReport) -> None:
    mark = read_mark(paths.tail_file)
    if mark is None or not segments or segments[-1].path.name != mark.segment:
        return
    try:
        st = os.stat(segments[-1].path)
    except FileNotFoundError:
        return
    if st.st_ino == mark.inode and st.st_size > mark.size:
        report.findings.append(Finding(
            "unfinished_append",
            f"{st.st_size - mark.size} bytes after the last completed append were written by a writer that "
            "did not finish (never acknowledged); the next writer or `lokilog verify --fix` cuts them",
            mark.segment, mark.size, mark.last_seq + 1,
        ))


def _check_quarantine(directory: Path, report: VerifyReport) -> None:
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return
    for name in names:
        if name.endswith(QUARANTINED_EVENT):
            report.findings.append(Finding(
                "quarantined_event",
                f"a whole, valid event was cut from the end of the log into quarantine/{name} (two writers "
                "without one lock, or an edited file): it may have been acknowledged. Review it; move the "
                "file out of quarantine/ once it is dealt with",
                name.split(".", 1)[0] + ".jsonl",
            ))


class HighWater(msgspec.Struct):
    """The highest seq anything durable outside the log claims was stored, and what could
    not be read while finding out."""

    seq: int = 0
    problems: list[Finding] = msgspec.field(default_factory=list)

    @classmethod
    def of(cls, paths: LokiPaths) -> "HighWater":
        found = cls()
        marks = [0]
        mark = read_mark(paths.tail_file)
        if mark is not None:
            marks.append(mark.last_seq)
        if paths.index_file.exists():
            import sqlite3  # here: every append finds the high-water mark, and most logs have no index

            from .index import EventIndex

            try:
                index = EventIndex(paths.index_file, readonly=True)
                try:
                    marks.append(index.max_seen_seq())
                finally:
                    index.close()
            except sqlite3.Error as exc:
                if "no such table" in str(exc):
                    pass  # an index created but never written to (a full disk): it saw nothing
                else:
                    # Not evidence of anything, but never "nothing was seen" in silence.
                    found.problems.append(Finding(
                        "index_unreadable",
                        f"{paths.index_file.name} cannot be read ({exc}), so the highest seq it saw is unknown; "
                        "`lokilog verify --fix` rebuilds it",
                    ))
        marks.extend(_cursor_seqs(paths.cursors))
        found.seq = max(marks)
        return found


def high_water_mark(paths: LokiPaths) -> int:
    """Return the highest seq anything durable outside the log claims to have seen: the tail
    sidecar, the index, cursors."""
    return HighWater.of(paths).seq


def _cursor_seqs(directory: Path):
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return
    for name in names:
        if not name.endswith(".json"):
            continue
        try:
            value = msgspec.json.decode(read_small(directory / name)).get("seq")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(value, int):
            yield value


def rewind_cursors(directory: Path, head: int) -> list[str]:
    """Move every cursor that is past ``head`` back to it, so events appended after an
    accepted loss reach their consumers; return the names of the cursors moved."""
    import json  # here: only an accepted loss rewrites cursors; every append reads them
    moved = []
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return moved
    for name in names:
        path = directory / name
        try:
            record = json.loads(read_small(path))
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and isinstance(record.get("seq"), int) and record["seq"] > head:
            record.update(seq=head, rewound_from=record["seq"])
            atomic_write(path, json.dumps(record).encode())
            moved.append(name)
    return moved
