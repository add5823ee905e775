"""Extending the chain on disk: under one lock across processes, always from the head on disk.

The reference chain forked because each process chained from its own in-memory tip. Here a
writer holds `audit.lock`, reads the head from the files, appends entries for the log events
after it, fsyncs, and only then records the new head: so two writers can only ever extend the
same chain, and a kill -9 at any point leaves a prefix that the next writer continues.
"""
from __future__ import annotations

import os
from pathlib import Path

from eventlog import FileEventLog
from eventlog.fsutil import fsync_dir, write_all
from eventlog.locking import LogLock

from .entry import GENESIS, chain_after, entry_line, split_line
from .errors import AuditChainError
from .files import (
    ACTIVE,
    LOCK,
    ChainPointRecord,
    HeadRecord,
    audit_dir,
    chain_files,
    count_lines,
    entry_seq,
    file_head,
    first_line,
    last_line,
    read_head_record,
    sealed_first_seq,
    sealed_name,
    write_head_record,
)
from .migrate import migrate_chain
from .settings import AuditSettings
from .verify import ChainPoint


def sync_chain(loki_dir: Path, settings: AuditSettings | None = None, upto_seq: int | None = None,
               head: str | None = None) -> ChainPoint:
    """Append entries for every audited log event after the chain's head (up to ``upto_seq``).

    ``head``: the hash of the entry a fold up to ``upto_seq`` ended at. When that fold ran in
    this process, the entries from the head on disk to it are taken from it (`entry.chain_after`)
    instead of from the events read back from the log."""
    settings = settings or AuditSettings.from_env()
    migrate_chain(loki_dir)  # a chain an older lokilog kept in .loki/audit/ continues here
    directory = audit_dir(loki_dir)
    directory.mkdir(parents=True, exist_ok=True)
    lock = LogLock(directory / LOCK)
    lock.acquire(settings.lock_timeout)
    try:
        writer = _ChainWriter(directory, settings)
        with FileEventLog(loki_dir) as log:
            if upto_seq is None or upto_seq > writer.head_seq:
                known = None if head is None or upto_seq is None else chain_after(writer.head_hash, head, upto_seq)
                writer.extend(log.read(writer.head_seq + 1, upto_seq, ingest=False) if known is None else None, known)
        return writer.finish()
    finally:
        lock.release()
        lock.close()


class _ChainWriter:
    """One locked extension of the chain: recover, append with rotation, record the head."""

    def __init__(self, directory: Path, settings: AuditSettings) -> None:
        self.directory = directory
        self.settings = settings
        self.active = directory / ACTIVE
        _repair_torn_tail(self.active)
        self.record = read_head_record(directory) or HeadRecord()
        self._finish_interrupted_prune()
        files = chain_files(directory)
        pruned = self.record.pruned
        on_disk = file_head(files)
        self.head_seq, self.head_hash = on_disk or ((pruned.seq, pruned.hash) if pruned else (0, GENESIS))
        if (self.record.seq, self.record.hash) == (self.head_seq, self.head_hash):
            self.entries = self.record.entries
        else:  # head.json is behind the files (a kill between append and record): recount
            self.entries = count_lines(files) + (pruned.entries if pruned else 0)
        self.size = self.active.stat().st_size if self.active.exists() else 0
        first = first_line(self.active) if self.size else None
        self.active_first = entry_seq(first, self.active) if first else None
        self.buffer: list[bytes] = []
        self.changed = False

    def extend(self, events, known: list[tuple[int, bytes, str]] | None = None) -> None:
        """Append the entries of the audited ``events``, or the ``known`` ones (seq, line, hash)."""
        recorded = (self.record.seq, self.record.hash) if self.record.seq > self.head_seq else (None, None)
        for seq, line, self.head_hash in (self._entries(events) if known is None else known):
            if seq == recorded[0] and self.head_hash != recorded[1]:
                # The files were cut short and the log no longer yields the recorded head:
                # refuse to paper over it (fail closed); verify names the damage.
                raise AuditChainError(f"re-auditing seq {seq} gives {self.head_hash}, but head.json "
                                      f"recorded {recorded[1]}: the log or the chain was altered")
            self._append(line, seq)
            self.head_seq = seq
            self.entries += 1

    def _entries(self, events):
        audits, head = self.settings.selection.audits, self.head_hash
        for event in events:
            if audits(event):
                line, head = entry_line(event, head)
                yield event.seq, line, head

    def _append(self, line: bytes, seq: int) -> None:
        if self.size and self.size + len(line) > self.settings.max_bytes:
            self._flush()
            self._seal()
        if self.active_first is None:
            self.active_first = seq
        self.buffer.append(line)
        self.size += len(line)
        if len(self.buffer) >= 4096:
            self._flush()

    def _flush(self) -> None:
        if not self.buffer:
            return
        created = not self.active.exists()
        fd = os.open(self.active, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
        try:
            write_all(fd, b"".join(self.buffer))
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            fsync_dir(self.directory)
        self.buffer.clear()
        self.changed = True

    def _seal(self) -> None:
        os.rename(self.active, self.directory / sealed_name(self.active_first))
        fsync_dir(self.directory)
        self.size, self.active_first = 0, None
        self._prune()

    def _prune(self) -> None:
        sealed = [p for p in chain_files(self.directory) if sealed_first_seq(p) is not None]
        # The active file counts towards LOKI_AUDIT_MAX_FILES, as in the reference system.
        while sealed and len(sealed) + 1 > self.settings.max_files:
            oldest = sealed.pop(0)
            line = last_line(oldest)
            before = self.record.pruned.entries if self.record.pruned else 0
            pruned = ChainPointRecord(seq=entry_seq(line, oldest), hash=split_line(line)[1],
                                      entries=before + count_lines([oldest]))
            # Record the pruned prefix before removing it: a kill in between leaves a record
            # that still describes a chain on disk, never a chain that looks cut short.
            self.record = HeadRecord(seq=self.head_seq, hash=self.head_hash, entries=self.entries, pruned=pruned)
            write_head_record(self.directory, self.record)
            oldest.unlink()
            fsync_dir(self.directory)

    def _finish_interrupted_prune(self) -> None:
        # A kill between recording a pruned prefix and unlinking its file leaves the file
        # behind; counting it again would double its entries in the pruned total.
        pruned = self.record.pruned
        if pruned is None:
            return
        for path in chain_files(self.directory):
            if sealed_first_seq(path) is None:
                continue
            line = last_line(path)
            if line and entry_seq(line, path) <= pruned.seq:
                path.unlink()
                fsync_dir(self.directory)

    def finish(self) -> ChainPoint:
        self._flush()
        record = HeadRecord(seq=self.head_seq, hash=self.head_hash, entries=self.entries, pruned=self.record.pruned)
        if record != self.record:
            write_head_record(self.directory, record)
        return ChainPoint(self.head_seq, self.head_hash, self.entries)


def _no_follow(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NOFOLLOW)  # a linked chain file is refused, never cut


def _repair_torn_tail(path: Path) -> None:
    """Cut a partial last line (a kill mid-append); its event is still in the log and is re-audited."""
    try:
        with open(path, "rb+", opener=_no_follow) as handle:
            end = handle.seek(0, os.SEEK_END)
            if end == 0:
                return
            handle.seek(end - 1)
            if handle.read(1) == b"\n":
                return
            step = min(end, 1024 * 1024)
            while True:
                handle.seek(end - step)
                data = handle.read(step)
                cut = data.rfind(b"\n")
                if cut >= 0 or step == end:
                    handle.truncate(end - step + cut + 1)
                    os.fsync(handle.fileno())
                    return
                step = min(end, step * 2)
    except FileNotFoundError:
        return
