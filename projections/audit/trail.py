"""The audit trail's read side on disk: verify, head and query. Reads only; never takes the lock."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import msgspec

from eventlog import FileEventLog, InvalidEventError, parse_timestamp

from .entry import AuditEntry, entry_decoder
from .files import as_point, audit_dir, chain_files, file_head, head_record_damage, iter_lines, read_head_record
from .migrate import migrate_chain
from .settings import AuditSettings
from .verify import ChainPoint, VerifyResult, verify_lines


def verify_trail(loki_dir: Path, settings: AuditSettings | None = None, *, against: str | None = None,
                 with_log: bool = True, progress: Callable[[int, int], None] | None = None) -> VerifyResult:
    """Verify the chain on disk as one chain across its files, and against the log by default.

    ``progress(seq, head seq)`` follows the walk over the log.

    Takes no lock: a writer rotating or pruning files meanwhile can make one pass see a file
    vanish, so a failed pass whose files or head record changed under it is run again.
    """
    settings = settings or AuditSettings.from_env()
    migrate_chain(loki_dir)
    directory = audit_dir(loki_dir)
    for _ in range(3):
        before = (chain_files(directory), read_head_record(directory))
        result = _verify_once(loki_dir, directory, settings, against, with_log, *before, progress=progress)
        if result.valid or (chain_files(directory), read_head_record(directory)) == before:
            break
    return result


def _verify_once(loki_dir, directory, settings, against, with_log, files, record, progress=None) -> VerifyResult:
    damage = head_record_damage(directory) if record is None else None
    if damage:
        # Fail closed: an unreadable head record must not pass for a missing one, or a chain
        # cut at the end and a damaged head.json would verify as valid.
        return VerifyResult(valid=False, error=damage, files=[f.name for f in files])
    start = as_point(record.pruned) if record else None
    recorded = ChainPoint(record.seq, record.hash, record.entries) if record and record.seq else None
    if with_log:
        with FileEventLog(loki_dir) as log:
            first = (start.seq + 1) if start else 1
            events = log.read(first, ingest=False)
            if progress is not None:
                events = _reporting(events, progress, log.head_seq)
            result = verify_lines(iter_lines(files), start=start, events=events,
                                  selection=settings.selection, head_record=recorded, against=against)
    else:
        result = verify_lines(iter_lines(files), start=start, head_record=recorded, against=against)
    result.files = [f.name for f in files]
    return result


def chain_head(loki_dir: Path) -> ChainPoint:
    """Return the head on disk: the last entry's event seq and hash, and the number of entries."""
    migrate_chain(loki_dir)
    directory = audit_dir(loki_dir)
    files = chain_files(directory)
    record = read_head_record(directory)
    on_disk = file_head(files)
    if on_disk is None:
        pruned = record.pruned if record else None
        return ChainPoint(pruned.seq, pruned.hash, pruned.entries) if pruned else ChainPoint(0, "GENESIS", 0)
    entries = record.entries if record and (record.seq, record.hash) == on_disk else None
    if entries is None:
        from .files import count_lines

        entries = count_lines(files) + (record.pruned.entries if record and record.pruned else 0)
    return ChainPoint(on_disk[0], on_disk[1], entries)


@dataclass(frozen=True)
class EntryQuery:
    """The reference ``readEntries`` filter: who, what (exact or ``type`` prefix), since, until."""

    who: str | None = None
    what: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def build(cls, who=None, what=None, since: str | None = None, until: str | None = None) -> EntryQuery:
        return cls(who, what, _moment(since, "since"), _moment(until, "until"))

    def matches(self, entry: AuditEntry) -> bool:
        if self.who is not None and entry.who != self.who:
            return False
        if self.what is not None and entry.what != self.what and not entry.what.startswith(self.what + "."):
            return False
        if self.since is None and self.until is None:
            return True
        moment = parse_timestamp(entry.timestamp)
        return (self.since is None or moment >= self.since) and (self.until is None or moment <= self.until)


def read_entries(loki_dir: Path, query: EntryQuery | None = None) -> Iterator[AuditEntry]:
    """Yield the chain's entries in order, filtered (entries that do not decode are skipped)."""
    query = query or EntryQuery()
    migrate_chain(loki_dir)
    for line in iter_lines(chain_files(audit_dir(loki_dir))):
        try:
            entry = entry_decoder.decode(line)
        except msgspec.DecodeError:  # verify reports damage; a query shows what can be read
            continue
        if query.matches(entry):
            yield entry


def _moment(text: str | None, parameter: str) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_timestamp(text)
    except ValueError:
        raise InvalidEventError(f"{text!r} is not an RFC 3339 timestamp", parameter=parameter) from None


def _reporting(events, progress: Callable[[int, int], None], head: int):
    for event in events:
        progress(event.seq, max(head, event.seq))
        yield event
