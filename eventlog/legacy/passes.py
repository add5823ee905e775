"""The flat-line and record passes of an ingest (steps 4 and 5 of eventlog/legacy/ingest.py).

Each function takes the :class:`~eventlog.legacy.ingest.Ingester` running the pass and uses only
its public surface: ``paths``, ``log``, ``batch``, ``record_ids``, ``open_state``, ``validate``,
``key_counts``, ``write_batch`` and ``commit``.
"""
from __future__ import annotations

import os

import msgspec

from ..appends import prepare
from ..errors import EventDecodeError, InvalidEventError
from ..ingest_seam import IngestReport
from ..ingest_watch import flat_path
from ..pending import BadPendingFile
from .flat import Flat, flat_records, open_flat, present_inodes, read_lines
from .parse import FlatLine, Record
from .records import drafts_of, mtime_timestamp, record_files
from .state import Changes, Cursor, LegacyState
from .tally import Batch


def flat_snapshot(ingester, state: LegacyState) -> list[Flat]:
    """Open both flat files up to their current size; forget cursors of files that are gone."""
    cursors = state.cursors()
    flats = [f for f in (open_flat(flat_path(ingester.paths.root, r), cursors) for r in (1, 0)) if f is not None]
    # A cursor whose file is gone (rotated away twice, or deleted) must not match a later
    # file that happens to get the same inode number.
    present = {f.generation for f in flats} | present_inodes(ingester.paths.root)
    stale = [g for g in cursors if g not in present and g.rsplit(":", 1)[0] not in present]
    if stale:
        state.delete_cursors(stale)
    return flats


def ingest_flat(ingester, flat: Flat, report: IngestReport, progress=None) -> None:
    """Ingest a flat file's new whole lines, batch by batch, moving its cursor with each."""
    advanced = False
    for lines, _ in read_lines(flat.handle, flat.start, flat.end):
        for start in range(0, len(lines), ingester.batch):
            group = lines[start:start + ingester.batch]
            ingest_lines(ingester, flat, group, group[-1].end, report)
            advanced = True
            if progress is not None:
                progress(group[-1].end - flat.start, flat.end - flat.start, f"ingest {flat.path.name}")
    if flat.reset and not advanced:  # remember the rewrite even before its first whole line
        cursor = Cursor(flat.generation, flat.path.name, 0, 0, flat.inode, flat.rewrites)
        ingester.open_state().apply(Changes([], [], {}, cursor))


def ingest_lines(ingester, flat: Flat, lines: list[FlatLine], end: int, report: IngestReport) -> None:
    """Ingest one batch of flat lines: each counted in F(K), appended while max(P, F) > S."""
    counts, batch = ingester.key_counts(), Batch()
    bad = []
    for line in lines:
        report.flat_lines += 1
        for record, problem in flat_records(line):
            if problem is None:
                try:
                    ingester.validate(record)
                except InvalidEventError as exc:
                    problem = str(exc)
            if problem is not None:
                bad.append((flat.generation, line.offset, flat.path.name, problem))
                report.bad.append(BadPendingFile(flat.path, f"line at byte {line.offset}: {problem}"))
                continue
            counts.flat[record.key] = counts.flat_count(record.key) + 1
            if counts.flat[record.key] <= counts.stored_count(record.key):
                report.twins += 1  # its file copy (or an earlier read of it) is stored
                continue
            batch.add(msgspec.structs.replace(record.draft, id=counts.free_derived_id(record.key, batch.ids)),
                      record.key)
            counts.stored[record.key] += 1
    ingester.write_batch(batch, counts, report)
    cursor = Cursor(flat.generation, flat.path.name, end, end, flat.inode, flat.rewrites)
    ingester.commit(Changes([], [], counts.flat, cursor, bad), counts, batch)


def ingest_records(ingester, report: IngestReport) -> None:
    """Store every record not stored yet; its id comes from its content, so once each."""
    fresh = []
    for record in record_files(ingester.paths.root):
        path = ingester.paths.root / record.rel
        try:
            st = os.stat(path)
            data = path.read_bytes()
        except FileNotFoundError:
            continue  # deleted meanwhile (run.sh clears the efficiency files at a run start)
        report.files_read += 1
        try:
            drafts, problems = drafts_of(record, data, mtime_timestamp(st))
        except EventDecodeError as exc:
            report.bad.append(BadPendingFile(path, str(exc)))
            continue
        report.bad.extend(BadPendingFile(path, problem) for problem in problems)
        for draft in drafts:
            if draft.id in ingester.record_ids:
                continue
            try:
                ingester.validate(Record(draft, ""))
            except InvalidEventError as exc:
                report.bad.append(BadPendingFile(path, str(exc)))
                continue
            fresh.append(draft)
    if not fresh:
        return
    ingester.log.current_tail()
    index = ingester.log.caught_up_index()
    todo = [prepare(d) for d in fresh if index.lookup_id(d.id) is None]
    for start in range(0, len(todo), ingester.batch):
        result = ingester.log.write_locked(todo[start:start + ingester.batch], durable=True, skip_conflicts=True)
        for receipt in result.receipts:
            report.ingested += receipt.status == "appended"
            report.duplicates += receipt.status == "duplicate"
        for position, error in result.conflicts:
            report.bad.append(BadPendingFile(ingester.paths.root, f"record {todo[start + position].draft.id}: {error}"))
    ingester.record_ids.update(d.id for d in fresh)
