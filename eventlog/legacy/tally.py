"""The counts behind exactly-once ingest: P, F and S per match key, and the batch they plan.

Exactly once. A native file (a strong id, or written by lokilog) is stored under its id and
de-duplicated by it. A Loki Mode record (weak id, or a flat line) is identified by its match
key K (instant, type, body). Distinct files with key K (by name) are counted in P(K), flat
lines in F(K); S(K), the number of log events with key K, is a fold of the log itself (caught
up from the last counted seq at the start of every pass); the ingester appends only while
max(P, F) > S. P, F, the flat cursors and S's position are committed after the log is fsynced:
a kill at any point leaves them behind the log, and re-counting then finds the events already
stored. Two distinct events are never merged, because equal keys are counted, not collapsed;
the id (the file's own while free, else ``lm-<K>-<n>``) only names the new event.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..appends import prepare
from ..ingest_seam import LockedLog
from .parse import Record, derived_id, match_key
from .state import Changes, LegacyState

#: Log events counted per state transaction when catching up the match-key counts.
CATCH_UP_CHUNK = 20_000


@dataclass
class FileItem:
    """One event file read for a batch: where it was, its size and mtime then, and its record."""

    path: Path
    size: int
    mtime_ns: int
    record: Record


@dataclass
class Counts:
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
class Batch:
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


def key_of(draft) -> str:
    """The match key of an event or draft, or "" when it has none (not a valid instant)."""
    try:
        return match_key(draft.timestamp, draft.type, draft.payload)
    except (ValueError, TypeError):
        return ""


def catch_up_keys(log: LockedLog, state: LegacyState) -> None:
    """Count the match key of every log event not counted yet (S is a fold of the log)."""
    tail = log.current_tail()
    seq, event_id = state.log_position()
    if seq > tail.head_seq or (seq and _id_at(log, seq) != event_id):
        state.reset_log_keys()  # the log was cut or rewritten (verify --fix): count afresh
        seq = 0
    while seq < tail.head_seq:
        chunk: Counter = Counter()
        last = None
        for event in log.read(seq + 1, min(seq + CATCH_UP_CHUNK, tail.head_seq), ingest=False):
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

def _id_at(log: LockedLog, seq: int) -> str | None:
    event = log.get(seq)
    return event.id if event is not None else None
