"""Ingesting everything writers leave outside the log: the drop box and Loki Mode's files.

One pass, under the log lock, reads (in this order, which is deterministic):

1. the flat files ``.loki/events.jsonl.1`` and ``.loki/events.jsonl`` up to their current
   size (snapshot only: their lines are ingested in step 4);
2. every ``*.json`` in ``events/pending/``, then in ``events/archive/`` (a Loki Mode
   subscriber may move a file between the two at any time: it is found in one of them);
3. those files, in name order (Loki Mode names start with the timestamp), batch by batch,
   each batch sorted by instant then name;
4. the flat lines, oldest file first, in file order;
5. the records Loki Mode keeps outside its event bus (efficiency, trust, cost history, managed
   events, proofs: eventlog/legacy/records.py), each under an id derived from its content.

Files are listed *after* the flat snapshot, so the pending copy of every flat line emit.sh
wrote is already visible and wins: its source and id are kept.

Exactly once. A native file (a strong id, or written by lokilog) is stored under its id and
de-duplicated by it. A Loki Mode record (weak id, or a flat line) is identified by its match
key K (instant, type, body). Distinct files with key K (by name) are counted in P(K), flat
lines in F(K); S(K), the number of log events with key K, is a fold of the log itself (caught
up from the last counted seq at the start of every pass); the ingester appends only while
max(P, F) > S. P, F, the flat cursors and S's position are committed after the log is fsynced:
a kill at any point leaves them behind the log, and re-counting then finds the events already
stored. Two distinct events are never merged, because equal keys are counted, not collapsed;
the id (the file's own while free, else ``lm-<K>-<n>``) only names the new event.

Once stored, only lokilog's own drop-box files (named ``*.lokilog.json`` by every lokilog client)
move to archive/. Loki Mode's files are read in place and left for Loki Mode's subscribers,
which expect unprocessed files in pending/: ingest remembers each by name (which holds its id),
size and mtime, and its match key (the content digest), so a file is read again only when it
changed. $LOKI_EVENTS_ARCHIVE_LEGACY_FILES=1 moves Loki Mode's files too (the old behaviour).
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import msgspec

from ..appends import prepare
from ..codec import encode_event
from ..errors import EventDecodeError, InvalidEventError, LegacyIngestError, UnsafeFileError
from ..events import Event, NewEvent
from .parse import FlatLine, Record, derived_id, match_key, parse_file
from .state import Changes, Cursor, FileMark, LegacyState, legacy_state_path
from ..fsutil import atomic_write, fsync_dir, make_dirs
from .records import drafts_of, mtime_timestamp, record_files
from ..pending import BadPendingFile, event_file_names, is_own_content, is_own_file
from ..safeio import check_json_depth, identity, read_regular

from ..ingest_seam import IngestReport, LockedLog
from ..ingest_watch import PARTS, ChangeWatch, flat_path, take_stamp
from .flat import Flat, flat_records, open_flat, present_inodes, read_lines
from .status import legacy_status  # noqa: F401 - re-exported: callers import it from here

#: Records per log write (one fsync) and per state transaction; $LOKI_EVENTS_INGEST_BATCH overrides.
BATCH = 2000
#: Log events counted per state transaction when catching up the match-key counts.
_CATCH_UP_CHUNK = 20_000


@dataclass
class _FileItem:
    path: Path
    size: int
    mtime_ns: int
    record: Record


@dataclass
class _Counts:
    """P, F and S for the keys one batch touches, read from the state, then updated."""

    state: LegacyState
    lookup: Callable[[str], int | None]
    keyed: bool = True  # S caught up with the log (needed only for Loki Mode records)
    stored: dict[str, int] = field(default_factory=dict)
    files: dict[str, int] = field(default_factory=dict)
    flat: dict[str, int] = field(default_factory=dict)

    def stored_count(self, key: str) -> int:
        if key not in self.stored:
            self.stored[key] = self.state.key_count(key)
        return self.stored[key]

    def file_count(self, key: str) -> int:
        if key not in self.files:
            self.files[key] = self.state.record_count(key)
        return self.files[key]

    def flat_count(self, key: str) -> int:
        if key not in self.flat:
            self.flat[key] = self.state.flat_count(key)
        return self.flat[key]

    def free_derived_id(self, key: str, taken: set[str]) -> str:
        n = self.stored_count(key)
        while derived_id(key, n) in taken or self.lookup(derived_id(key, n)) is not None:
            n += 1
        return derived_id(key, n)


@dataclass
class _Batch:
    """The events one batch appends, with the match key of each (to count it once stored)."""

    prepared: list = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    legacy: list[bool] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)

    def add(self, draft, key: str, legacy: bool = True) -> None:
        item = prepare(draft)
        self.prepared.append(item)
        self.keys.append(key)
        self.legacy.append(legacy)
        self.ids.add(item.draft.id)

    def appended_legacy_ids(self, result) -> list[str]:
        if result is None:
            return []
        return [item.draft.id for item, receipt, legacy in zip(self.prepared, result.receipts, self.legacy)
                if legacy and receipt.status == "appended"]


class Ingester:
    """Runs passes for one FileEventLog; remembers what it saw so idle passes cost a few stats."""

    def __init__(self, log: LockedLog, watch: ChangeWatch | None = None) -> None:
        self.log = log
        self.paths = log.paths
        self._state: LegacyState | None = None
        self._state_pid = 0
        self._marks: dict[str, FileMark] | None = None
        self._bad: set[str] = set()
        self._watch = watch if watch is not None else ChangeWatch(self.paths)  # holds the last stamp
        self.batch = _batch_size(os.environ.get("LOKI_EVENTS_INGEST_BATCH"))
        self._record_ids: set[str] = set()  # record events known to be stored (no index lookup)
        #: Move Loki Mode's files to archive/ too (opt-in: by default only lokilog's own move).
        self.archive_legacy_files = _truthy(os.environ.get("LOKI_EVENTS_ARCHIVE_LEGACY_FILES"))

    # ----------------------------------------------------------------- change detection

    def changed(self) -> bool:
        """True when something a pass reads may have changed since the last pass."""
        return bool(self.changed_parts())

    def changed_parts(self, throttle: bool = False) -> set[str]:
        """Which of pending, archive, flat and bad may have changed (eventlog/ingest_watch.py)."""
        return self._watch.changed_parts(throttle)

    def _take_stamp(self, bad_paths: list[Path]) -> dict:
        return take_stamp(self.paths, bad_paths)

    @property
    def _stamp_file(self) -> Path:
        return self._watch.stamp_file

    def _bad_paths(self) -> list[Path]:
        paths = []
        for name in sorted(self._bad):
            for folder in (self.paths.pending, self.paths.archive):
                if os.path.lexists(folder / name):
                    paths.append(folder / name)
                    break
        return paths

    # --------------------------------------------------------------------- one pass

    def run(self, report: "IngestReport", parts: set[str] | None = None, progress=None) -> None:
        """One pass under the log lock (the caller holds it), over ``parts`` (default: all)."""
        try:
            self._run(report, set(PARTS) if parts is None else parts, progress)
        except sqlite3.Error as exc:
            self.close()
            raise LegacyIngestError(f"{legacy_state_path(self.paths.events)}: {exc}") from exc

    def _run(self, report: "IngestReport", parts: set[str], progress=None) -> None:
        # Taken before the pass: anything that changes during it makes the next one look again.
        taken = time.time_ns()
        state = self._open_state()
        if self._marks is None:
            self._marks = state.file_marks()
            self._bad = {n for n, m in self._marks.items() if m.status == "bad"}
        stamp = self._take_stamp(self._bad_paths())
        flats = self._flat_snapshot(state) if "flat" in parts else []
        try:
            folders = [f for f in ("pending", "archive") if f in parts or "bad" in parts]
            names = self._candidates(folders)
            for start in range(0, len(names), self.batch):
                items = [i for i in (self._read_file(n, report) for n in names[start:start + self.batch]) if i]
                items.sort(key=_item_order)
                if items:  # Loki Mode's files already read stay in pending/: nothing to write for them
                    self._ingest_files(items, report)
                if progress is not None:
                    progress(min(start + self.batch, len(names)), len(names), "ingest files")
            for flat in flats:
                self._ingest_flat(flat, report, progress)
            if "records" in parts:
                self._ingest_records(report)
        finally:
            for flat in flats:
                flat.handle.close()
        self._report_known_bad(report)
        stamp["taken_ns"] = taken
        if stamp != self._watch.stamp:
            _save_stamp(self._stamp_file, stamp)
        self._watch.stamp = stamp

    def _open_state(self) -> LegacyState:
        if self._state is None or self._state_pid != os.getpid():
            make_dirs(self.paths.events)
            self._state = LegacyState(legacy_state_path(self.paths.events))
            self._state_pid = os.getpid()
            self._marks = None
        return self._state

    def close(self) -> None:
        if self._state is not None and self._state_pid == os.getpid():
            self._state.close()
        self._state = None

    # ------------------------------------------------------------------------ files

    def _candidates(self, folders: list[str]) -> list[str]:
        """Names to read, in name order (Loki Mode's names start with the timestamp)."""
        names: set[str] = set()
        # pending before archive: a file a Loki Mode subscriber moves in between is in the second.
        pending_prefix = os.fspath(self.paths.pending) + os.sep
        for label in folders:
            for name in event_file_names(self.paths.pending if label == "pending" else self.paths.archive):
                mark = self._marks.get(name)
                # Event files are written once (or appear whole by rename): a name already
                # ingested in archive/ is the same event; not even a stat, as archive/ can be
                # huge. A file in pending/ is looked at (a stat): Loki Mode's stay there, and
                # one rewritten under its name is read again (counted by content, never twice).
                if mark is None or mark.status != "done":
                    names.add(name)
                elif label == "pending" and (mark.dir != "pending" or not _unchanged(pending_prefix + name, mark)):
                    names.add(name)
        return sorted(names)

    def _read_file(self, name: str, report: "IngestReport") -> _FileItem | None:
        for path in (self.paths.pending / name, self.paths.archive / name):
            try:
                st = os.lstat(path)
                mark = self._marks.get(name)
                if mark is not None and mark.status == "bad" and (mark.size, mark.mtime_ns) == (st.st_size, st.st_mtime_ns):
                    return None  # still the bad file it was: retried when it changes
                if (mark is not None and mark.status == "done" and _label(path) == mark.dir
                        and (mark.dir == "archive" or (mark.size, mark.mtime_ns) == (st.st_size, st.st_mtime_ns))):
                    return None
                # Never path.read_bytes(): a FIFO would block every writer, a link to
                # /dev/zero would fill the memory, a directory would raise.
                data, st = read_regular(path)
            except FileNotFoundError:
                continue  # moved to archive/ meanwhile: found there
            except UnsafeFileError as exc:
                self._set_aside(path, st, None, str(exc), report)
                return None
            return self._parse_file(path, st, data, report)
        return None

    def _parse_file(self, path: Path, st: os.stat_result, data: bytes, report: "IngestReport") -> _FileItem | None:
        label = _label(path)
        report.files_read += 1
        try:
            check_json_depth(data, what=path.name)  # before any decoder recurses into it
            record = parse_file(path.name, data, own=is_own_file(path.name))
            self._validate(record)
        except (EventDecodeError, InvalidEventError) as exc:
            self._set_aside(path, st, data, str(exc), report)
            return None
        return _FileItem(path, st.st_size, st.st_mtime_ns, record)

    def _validate(self, record: Record) -> None:
        # Now, not at the write: one invalid or oversized event must be reported as bad,
        # never fail the batch (and so every pass) it would have been written in.
        item = prepare(record.draft)
        draft = item.draft
        encode_event(Event(seq=1, id=draft.id, type=draft.type, source=draft.source, timestamp=draft.timestamp,
                           version=draft.version, payload=draft.payload, extra=draft.extra),
                     self.log.settings.max_event_bytes)

    def _mark_bad(self, path: Path, label: str, st: os.stat_result, reason: str, report: "IngestReport") -> None:
        mark = FileMark(path.name, label, st.st_size, st.st_mtime_ns, "bad", reason)
        self._open_state().apply(Changes([mark], [], {}))
        self._remember([mark])
        report.bad.append(BadPendingFile(path, reason))

    def _set_aside(self, path: Path, st: os.stat_result, data: bytes | None, reason: str,
                   report: "IngestReport") -> None:
        """Record a file that is not an event, once, so it never stops the appends behind it.

        lokilog's own drop-box file moves to quarantine/; anything else (Loki Mode's, or a
        link, FIFO or directory someone planted) stays where it is, remembered by name and
        identity (and digest), and skipped until it changes.
        """
        moved = None
        if data is not None and _label(path) == "pending" and (is_own_file(path.name) or is_own_content(data)):
            moved = _quarantine(path, self.paths.quarantine)
        if moved is None:
            self._mark_bad(path, _label(path), st, reason, report)
        else:
            report.bad.append(BadPendingFile(path, reason))
        payload = {"action": "file_refused", "path": str(path.relative_to(self.paths.root)), "reason": reason[:500],
                   "identity": identity(st).to_dict(),
                   "sha256": hashlib.sha256(data).hexdigest() if data is not None else None,
                   "quarantined_to": str(moved.relative_to(self.paths.root)) if moved else None}
        try:
            self.log.write_locked([prepare(NewEvent(type="ingest", source="lokilog", payload=payload))], durable=True)
        except (InvalidEventError, OSError):
            pass  # the mark above already keeps the file from being read again

    def _report_known_bad(self, report: "IngestReport") -> None:
        reported = {b.path.name for b in report.bad}
        for name in sorted(self._bad - reported):
            for path in (self.paths.pending / name, self.paths.archive / name):
                if os.path.lexists(path):
                    report.bad.append(BadPendingFile(path, self._marks[name].reason or "bad"))
                    break

    def _remember(self, marks: list[FileMark]) -> None:
        for mark in marks:
            self._marks[mark.name] = mark
            if mark.status == "bad":
                self._bad.add(mark.name)
            else:
                self._bad.discard(mark.name)

    def _ingest_files(self, items: list[_FileItem], report: "IngestReport") -> None:
        # Only Loki Mode records are counted by key: a batch of lokilog's own files (the drop
        # box under lock contention) never pays for catching up the key counts.
        counts, batch = self._counts(keyed=any(not i.record.native for i in items)), _Batch()
        plan_for: list[int] = []
        records: list[tuple[str, str]] = []
        counted: set[tuple[str, str]] = set()
        for index, item in enumerate(items):
            record = item.record
            if record.native:
                batch.add(record.draft, _key_of(record.draft), legacy=False)
                plan_for.append(index)
                continue
            pair = (record.key, item.path.name)
            if pair in counted or counts.state.has_record(*pair):
                report.duplicates += 1
                continue
            counted.add(pair)
            records.append(pair)
            counts.files[record.key] = counts.file_count(record.key) + 1
            if counts.files[record.key] <= counts.stored_count(record.key):
                report.twins += 1  # the other copy (emit.sh's flat line) is stored already
                continue
            batch.add(msgspec.structs.replace(record.draft, id=self._file_event_id(record, counts, batch)), record.key)
            counts.stored[record.key] += 1
            plan_for.append(index)
        result = self._write(batch, counts, report)
        conflicts = {position: str(error) for position, error in result.conflicts} if result else {}
        bad = {}
        for position, reason in conflicts.items():
            item = items[plan_for[position]]
            bad[item.path.name] = reason
            report.bad.append(BadPendingFile(item.path, reason))
            records = [r for r in records if r[1] != item.path.name]  # counted once it changes
        moved = self._archive([i for i in items if i.path.name not in bad])
        marks = [FileMark(i.path.name, _label(i.path), i.size, i.mtime_ns, "bad", bad[i.path.name])
                 for i in items if i.path.name in bad]
        marks += [FileMark(i.path.name, "archive" if i.path.name in moved else _label(i.path), i.size, i.mtime_ns, "done")
                  for i in items if i.path.name not in bad]
        self._commit(Changes(marks, records, {}, legacy_ids=batch.appended_legacy_ids(result)), counts, batch)
        self._remember(marks)

    def _file_event_id(self, record: Record, counts: _Counts, batch: _Batch) -> str:
        own = record.legacy_id
        seq = None if own in batch.ids else counts.lookup(own)
        if own not in batch.ids and seq is None:
            return own  # the Loki Mode id, kept while it is free
        if own in batch.ids or counts.state.is_legacy_id(own) or self._key_at(seq) == record.key:
            # Two Loki Mode events with one 32-bit id (or two identical events, one stored
            # before a crash under this id): both are kept, this one under a new id.
            return counts.free_derived_id(record.key, batch.ids)
        return own  # a lokilog event has this id: a conflict, reported as such by the append

    def _key_at(self, seq: int | None) -> str | None:
        event = self.log.get(seq) if seq is not None else None
        return _key_of(event) if event is not None else None

    def _write(self, batch: _Batch, counts: _Counts, report: "IngestReport"):
        if not batch.prepared:
            return None
        result = self.log.write_locked(batch.prepared, durable=True, skip_conflicts=True)
        for receipt, key, legacy in zip(result.receipts, batch.keys, batch.legacy):
            appended = receipt.status == "appended"
            report.ingested += appended
            report.duplicates += receipt.status == "duplicate"
            if legacy and not appended:
                counts.stored[key] -= 1  # raised when planned; the log did not take it
            elif appended and not legacy and key and counts.keyed:
                counts.stored[key] = counts.stored_count(key) + 1
        return result

    def _commit(self, changes: Changes, counts: _Counts, batch: _Batch) -> None:
        if batch.prepared and counts.keyed:
            tail = self.log.current_tail()
            changes.log_keys = dict(counts.stored)
            changes.log_position = (tail.head_seq, tail.head_id)
        self._open_state().apply(changes)

    def _archive(self, items: list[_FileItem]) -> set[str]:
        """Move lokilog's own ingested files from pending/ to archive/ (Loki Mode's only if opted in)."""
        moved = set()
        for item in items:
            own = is_own_file(item.path.name)
            if _label(item.path) != "pending" or not (own or self.archive_legacy_files):
                continue
            if _move(item.path, self.paths.archive / item.path.name, clobber=own):
                moved.add(item.path.name)
        if moved:
            fsync_dir(self.paths.archive)
        return moved

    # ---------------------------------------------------------------- Loki Mode records

    def _ingest_records(self, report: "IngestReport") -> None:
        """Store every record not stored yet; its id comes from its content, so once each."""
        fresh = []
        for record in record_files(self.paths.root):
            path = self.paths.root / record.rel
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
                if draft.id in self._record_ids:
                    continue
                try:
                    self._validate(Record(draft, ""))
                except InvalidEventError as exc:
                    report.bad.append(BadPendingFile(path, str(exc)))
                    continue
                fresh.append(draft)
        if not fresh:
            return
        self.log.current_tail()
        index = self.log.caught_up_index()
        todo = [prepare(d) for d in fresh if index.lookup_id(d.id) is None]
        for start in range(0, len(todo), self.batch):
            result = self.log.write_locked(todo[start:start + self.batch], durable=True, skip_conflicts=True)
            for receipt in result.receipts:
                report.ingested += receipt.status == "appended"
                report.duplicates += receipt.status == "duplicate"
            for position, error in result.conflicts:
                report.bad.append(BadPendingFile(self.paths.root, f"record {todo[start + position].draft.id}: {error}"))
        self._record_ids.update(d.id for d in fresh)

    # ---------------------------------------------------------------- key counts

    def _catch_up_keys(self, state: LegacyState) -> None:
        """Count the match key of every log event not counted yet (S is a fold of the log)."""
        tail = self.log.current_tail()
        seq, event_id = state.log_position()
        if seq > tail.head_seq or (seq and self._id_at(seq) != event_id):
            state.reset_log_keys()  # the log was cut or rewritten (verify --fix): count afresh
            seq = 0
        while seq < tail.head_seq:
            chunk: Counter = Counter()
            last = None
            for event in self.log.read(seq + 1, min(seq + _CATCH_UP_CHUNK, tail.head_seq), ingest=False):
                last = event
                try:
                    chunk[match_key(event.timestamp, event.type, event.payload)] += 1
                except (ValueError, TypeError):
                    continue  # not a valid instant: no Loki Mode record can match it
            if last is None:
                return
            totals = {key: state.key_count(key) + n for key, n in chunk.items()}
            state.apply(Changes([], [], {}, log_keys=totals, log_position=(last.seq, last.id)))
            seq = last.seq

    def _id_at(self, seq: int) -> str | None:
        event = self.log.get(seq)
        return event.id if event is not None else None

    def _counts(self, keyed: bool = True) -> _Counts:
        self.log.current_tail()
        index = self.log.caught_up_index()
        state = self._open_state()
        if keyed:
            self._catch_up_keys(state)
        return _Counts(state, index.lookup_id, keyed=keyed)

    # ------------------------------------------------------------------- flat files

    def _flat_snapshot(self, state: LegacyState) -> list[Flat]:
        cursors = state.cursors()
        flats = [f for f in (open_flat(flat_path(self.paths.root, r), cursors) for r in (1, 0)) if f is not None]
        # A cursor whose file is gone (rotated away twice, or deleted) must not match a later
        # file that happens to get the same inode number.
        present = {f.generation for f in flats} | present_inodes(self.paths.root)
        stale = [g for g in cursors if g not in present and g.rsplit(":", 1)[0] not in present]
        if stale:
            state.delete_cursors(stale)
        return flats

    def _ingest_flat(self, flat: Flat, report: "IngestReport", progress=None) -> None:
        advanced = False
        for lines, _ in read_lines(flat.handle, flat.start, flat.end):
            for start in range(0, len(lines), self.batch):
                group = lines[start:start + self.batch]
                self._ingest_lines(flat, group, group[-1].end, report)
                advanced = True
                if progress is not None:
                    progress(group[-1].end - flat.start, flat.end - flat.start, f"ingest {flat.path.name}")
        if flat.reset and not advanced:  # remember the rewrite even before its first whole line
            cursor = Cursor(flat.generation, flat.path.name, 0, 0, flat.inode, flat.rewrites)
            self._open_state().apply(Changes([], [], {}, cursor))

    def _ingest_lines(self, flat: Flat, lines: list[FlatLine], end: int, report: "IngestReport") -> None:
        counts, batch = self._counts(), _Batch()
        bad = []
        for line in lines:
            report.flat_lines += 1
            for record, problem in flat_records(line):
                if problem is None:
                    try:
                        self._validate(record)
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
        self._write(batch, counts, report)
        cursor = Cursor(flat.generation, flat.path.name, end, end, flat.inode, flat.rewrites)
        self._commit(Changes([], [], counts.flat, cursor, bad), counts, batch)


# --------------------------------------------------------------------------- helpers


def _key_of(draft) -> str:
    try:
        return match_key(draft.timestamp, draft.type, draft.payload)
    except (ValueError, TypeError):
        return ""


def _move(source: Path, target: Path, clobber: bool) -> bool:
    """Move a file; without ``clobber`` never replace one already there (it is not ours)."""
    make_dirs(target.parent)
    try:
        if clobber and not _same_file(source, target):
            os.replace(source, target)
            return True
        if clobber:
            raise FileExistsError(target)  # rename() of two links to one file does nothing
        os.link(source, target)  # link, unlike rename, refuses to replace an existing file
    except FileNotFoundError:
        return False  # moved already (another ingester, or a Loki Mode subscriber)
    except FileExistsError:
        if not _same_file(source, target):
            return False  # a file of that name is in archive/ already: leave both as they are
        # The same inode under both names: a move killed between link and unlink. Finish it.
    except OSError:
        # archive/ on another device, read-only, full: the event is stored and its file stays
        # where it is. Tidying up must not fail the append that happened to trigger this pass.
        return False
    try:
        os.unlink(source)
    except FileNotFoundError:
        return False
    except OSError:
        return False  # linked but not unlinked: both names stay; the event is stored once
    return True


def _quarantine(path: Path, quarantine: Path) -> Path | None:
    """Move one of lokilog's own drop-box files that is not a valid event out of the way."""
    try:
        make_dirs(quarantine)
        target = quarantine / f"{path.parent.name}-{path.name}.{time.time_ns()}"
        os.rename(path, target)
        fsync_dir(quarantine)
    except OSError:
        return None  # left in place and marked bad instead: still never read twice
    return target


def _same_file(first: Path, second: Path) -> bool:
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False


def _unchanged(path: str, mark: FileMark) -> bool:
    """True when the file at ``path`` still has the size and mtime it had when it was read."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return True  # moved on (to archive/, where its name is known): nothing new here
    return (st.st_size, st.st_mtime_ns) == (mark.size, mark.mtime_ns)


def _truthy(raw: str | None) -> bool:
    return (raw or "").strip().lower() in ("1", "true", "yes", "on")


def _batch_size(raw: str | None) -> int:
    try:
        return max(1, int(raw)) if raw else BATCH
    except ValueError:
        return BATCH


def _label(path: Path) -> str:
    return path.parent.name


def _item_order(item: _FileItem) -> tuple:
    from .parse import instant

    try:
        moment = instant(item.record.draft.timestamp)
    except (ValueError, TypeError):
        moment = ""
    return (moment, item.path.name)








def _save_stamp(path: Path, stamp: dict) -> None:
    # Not fsynced: a lost stamp only costs one full pass. For the same reason a stamp that
    # cannot be written (a full disk, a failed rename) must not fail the append it rode on.
    try:
        atomic_write(path, json.dumps(stamp).encode(), durable=False)
    except OSError:
        pass


__all__ = ["Ingester", "LegacyIngestError", "flat_path", "legacy_state_path", "legacy_status"]
