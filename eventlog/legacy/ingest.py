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

Exactly once: see eventlog/legacy/tally.py (what P, F and S count, and when they are committed).

Once stored, only lokilog's own drop-box files (named ``*.lokilog.json`` by every lokilog client)
move to archive/. Loki Mode's files are read in place and left for Loki Mode's subscribers,
which expect unprocessed files in pending/: ingest remembers each by name (which holds its id),
size and mtime, and its match key (the content digest), so a file is read again only when it
changed. $LOKI_EVENTS_ARCHIVE_LEGACY_FILES=1 moves Loki Mode's files too (the old behaviour).
"""
from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from pathlib import Path

import msgspec

from ..appends import prepare
from ..codec import encode_event
from ..errors import EventDecodeError, InvalidEventError, LegacyIngestError, UnsafeFileError
from ..events import Event, NewEvent
from ..fsutil import fsync_dir, make_dirs
from ..ingest_seam import IngestReport, LockedLog
from ..ingest_watch import PARTS, ChangeWatch, flat_path, take_stamp
from ..pending import BadPendingFile, event_file_names, is_own_content, is_own_file
from ..safeio import check_json_depth, identity, read_regular
from .moves import move, quarantine, save_stamp, unchanged
from .parse import Record, parse_file
from .passes import flat_snapshot, ingest_flat, ingest_records
from .state import Changes, FileMark, LegacyState, legacy_state_path
from .status import legacy_status  # noqa: F401 - re-exported: callers import it from here
from .tally import Batch, Counts, FileItem, catch_up_keys, key_of

#: Records per log write (one fsync) and per state transaction; $LOKI_EVENTS_INGEST_BATCH overrides.
BATCH = 2000


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
        self.record_ids: set[str] = set()  # record events known to be stored (no index lookup)
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
        state = self.open_state()
        if self._marks is None:
            self._marks = state.file_marks()
            self._bad = {n for n, m in self._marks.items() if m.status == "bad"}
        stamp = self._take_stamp(self._bad_paths())
        flats = flat_snapshot(self, state) if "flat" in parts else []
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
                ingest_flat(self, flat, report, progress)
            if "records" in parts:
                ingest_records(self, report)
        finally:
            for flat in flats:
                flat.handle.close()
        self._report_known_bad(report)
        stamp["taken_ns"] = taken
        if stamp != self._watch.stamp:
            save_stamp(self._stamp_file, stamp)
        self._watch.stamp = stamp

    def open_state(self) -> LegacyState:
        """The ingester's own state (reopened after a fork: a SQLite handle is not fork-safe)."""
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
                elif label == "pending" and (mark.dir != "pending" or not unchanged(pending_prefix + name, mark)):
                    names.add(name)
        return sorted(names)

    def _read_file(self, name: str, report: "IngestReport") -> FileItem | None:
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

    def _parse_file(self, path: Path, st: os.stat_result, data: bytes, report: "IngestReport") -> FileItem | None:
        label = _label(path)
        report.files_read += 1
        try:
            check_json_depth(data, what=path.name)  # before any decoder recurses into it
            record = parse_file(path.name, data, own=is_own_file(path.name))
            self.validate(record)
        except (EventDecodeError, InvalidEventError) as exc:
            self._set_aside(path, st, data, str(exc), report)
            return None
        return FileItem(path, st.st_size, st.st_mtime_ns, record)

    def validate(self, record: Record) -> None:
        """Raise InvalidEventError when the record's event could not be stored."""
        # Now, not at the write: one invalid or oversized event must be reported as bad,
        # never fail the batch (and so every pass) it would have been written in.
        item = prepare(record.draft)
        draft = item.draft
        encode_event(Event(seq=1, id=draft.id, type=draft.type, source=draft.source, timestamp=draft.timestamp,
                           version=draft.version, payload=draft.payload, extra=draft.extra),
                     self.log.settings.max_event_bytes)

    def _mark_bad(self, path: Path, label: str, st: os.stat_result, reason: str, report: "IngestReport") -> None:
        mark = FileMark(path.name, label, st.st_size, st.st_mtime_ns, "bad", reason)
        self.open_state().apply(Changes([mark], [], {}))
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
            moved = quarantine(path, self.paths.quarantine)
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

    def _ingest_files(self, items: list[FileItem], report: "IngestReport") -> None:
        # Only Loki Mode records are counted by key: a batch of lokilog's own files (the drop
        # box under lock contention) never pays for catching up the key counts.
        counts, batch = self.key_counts(keyed=any(not i.record.native for i in items)), Batch()
        plan_for: list[int] = []
        records: list[tuple[str, str]] = []
        counted: set[tuple[str, str]] = set()
        for index, item in enumerate(items):
            record = item.record
            if record.native:
                batch.add(record.draft, key_of(record.draft), legacy=False)
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
        result = self.write_batch(batch, counts, report)
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
        self.commit(Changes(marks, records, {}, legacy_ids=batch.appended_legacy_ids(result)), counts, batch)
        self._remember(marks)

    def _file_event_id(self, record: Record, counts: Counts, batch: Batch) -> str:
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
        return key_of(event) if event is not None else None

    def write_batch(self, batch: Batch, counts: Counts, report: "IngestReport"):
        """Append a batch (one fsync), correcting S for the events the log did not take."""
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

    def commit(self, changes: Changes, counts: Counts, batch: Batch) -> None:
        """Commit a batch's counts and cursors, after its events are fsynced."""
        if batch.prepared and counts.keyed:
            tail = self.log.current_tail()
            changes.log_keys = dict(counts.stored)
            changes.log_position = (tail.head_seq, tail.head_id)
        self.open_state().apply(changes)

    def _archive(self, items: list[FileItem]) -> set[str]:
        """Move lokilog's own ingested files from pending/ to archive/ (Loki Mode's only if opted in)."""
        moved = set()
        for item in items:
            own = is_own_file(item.path.name)
            if _label(item.path) != "pending" or not (own or self.archive_legacy_files):
                continue
            if move(item.path, self.paths.archive / item.path.name, clobber=own):
                moved.add(item.path.name)
        if moved:
            fsync_dir(self.paths.archive)
        return moved

    def key_counts(self, keyed: bool = True) -> Counts:
        """Fresh counts for one batch; ``keyed`` catches S up with the log first."""
        self.log.current_tail()
        index = self.log.caught_up_index()
        state = self.open_state()
        if keyed:
            catch_up_keys(self.log, state)
        return Counts(state, index.lookup_id, keyed=keyed)


# --------------------------------------------------------------------------- helpers


def _truthy(raw: str | None) -> bool:
    return (raw or "").strip().lower() in ("1", "true", "yes", "on")


def _batch_size(raw: str | None) -> int:
    try:
        return max(1, int(raw)) if raw else BATCH
    except ValueError:
        return BATCH


def _label(path: Path) -> str:
    return path.parent.name


def _item_order(item: FileItem) -> tuple:
    from .parse import instant

    try:
        moment = instant(item.record.draft.timestamp)
    except (ValueError, TypeError):
        moment = ""
    return (moment, item.path.name)


__all__ = ["Ingester", "LegacyIngestError", "flat_path", "legacy_state_path", "legacy_status"]
