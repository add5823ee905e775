"""Verifying the chain: recompute every hash and link, and compare each entry with its log event.

Pure: it walks iterables of stored lines and of log events. The first broken entry is named by
``brokenIndex`` (its position in the chain, 0-based, counting pruned entries) and ``brokenAt``:
the seq of the event that belongs at that position (read from the log when it is given, else
the seq the entry claims). So a deleted entry is reported at the seq it should have held, a
reordered pair at the first displaced seq, a modified event at its own seq.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Iterable, Iterator

import msgspec

from eventlog import Event

from .entry import GENESIS, Selection, body_for, digest, encode_body, split_line


@dataclass(frozen=True)
class ChainPoint:
    """An entry of the chain named by the seq of its event and its hash (a head or an anchor)."""

    seq: int
    hash: str
    entries: int = 0


@dataclass
class VerifyResult:
    """The reference system's ``{valid, entries, brokenAt, error}`` plus where and how far it looked."""

    valid: bool = True
    entries: int = 0
    brokenAt: int | None = None
    error: str | None = None
    brokenIndex: int | None = None
    head: ChainPoint | None = None
    pending: int | None = None
    checkedLog: bool = False
    anchor: str | None = None
    anchorFound: bool | None = None
    prunedThrough: int | None = None
    files: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


class _Head(msgspec.Struct):
    seq: int
    previousHash: str


_head_decoder = msgspec.json.Decoder(_Head)


class _Broken(Exception):
    def __init__(self, message: str, seq: int | None) -> None:
        super().__init__(message)
        self.seq = seq


class _LogWalk:
    """Steps through the log's audited events, insisting the seqs are dense and in order."""

    def __init__(self, events: Iterable[Event], selection: Selection, first_seq: int) -> None:
        self._events: Iterator[Event] = iter(events)
        self._selection = selection
        self.expected = first_seq
        self._peeked: Event | None = None
        self._done = False

    def peek(self) -> Event | None:
        """Return the next audited event (without consuming it), or None at the end of the log."""
        while self._peeked is None and not self._done:
            event = next(self._events, None)
            if event is None:
                self._done = True
                break
            if event.seq != self.expected:
                raise _Broken(f"log: expected event seq {self.expected}, found seq {event.seq} "
                              "(events deleted, duplicated, inserted or reordered)", self.expected)
            self.expected += 1
            if self._selection.audits(event):
                self._peeked = event
        return self._peeked

    def take(self) -> None:
        self._peeked = None

    def count_rest(self) -> int:
        """Count the audited events not consumed yet (the chain's pending work)."""
        count = 0
        while self.peek() is not None:
            self.take()
            count += 1
        return count


def verify_lines(
    lines: Iterable[bytes],
    *,
    start: ChainPoint | None = None,
    events: Iterable[Event] | None = None,
    selection: Selection | None = None,
    head_record: ChainPoint | None = None,
    against: str | None = None,
) -> VerifyResult:
    """Verify stored entry lines (without ``\\n``) as one chain, optionally against the log.

    ``start`` is the pruned prefix the chain continues from (GENESIS when None); ``events``
    the log from seq 1 (or from after the pruned prefix); ``head_record`` the last head the
    writer recorded (a shorter chain was truncated); ``against`` a head hash anchored elsewhere
    that the chain must still contain.
    """
    prev = start.hash if start else GENESIS
    index = start.entries if start else 0
    last_seq = start.seq if start else 0
    walk = _LogWalk(events, selection or Selection(), last_seq + 1) if events is not None else None
    result = VerifyResult(checkedLog=walk is not None, anchor=against,
                          prunedThrough=start.seq if start else None)
    found_anchor = against is None or against == prev
    head = None
    event = None
    try:
        for line in lines:
            event = walk.peek() if walk else None
            stored_hash = _check_entry(line, prev, last_seq, event, walk is not None)
            seq = event.seq if event is not None else _seq_of(line)
            if head_record and seq == head_record.seq and stored_hash != head_record.hash:
                raise _Broken(f"entry seq {seq} has hash {stored_hash}, but the recorded head says "
                              f"{head_record.hash}", seq)
            if walk:
                walk.take()
            prev, last_seq, index = stored_hash, seq, index + 1
            head = ChainPoint(seq, stored_hash, index)
            found_anchor = found_anchor or stored_hash == against
        event = walk.peek() if walk else None
        if head_record and head_record.seq > last_seq:
            where = event.seq if event is not None else head_record.seq
            raise _Broken(f"chain ends at seq {last_seq} ({index} entries) but its recorded head is seq "
                          f"{head_record.seq}: entries were removed from the end", where)
        if walk:
            result.pending = walk.count_rest()
    except _Broken as broken:
        result.valid, result.error, result.brokenAt, result.brokenIndex = False, str(broken), broken.seq, index
    result.entries, result.head = index, head
    if result.valid and not found_anchor:
        result.valid = False
        result.error = f"anchor {against} is not in the chain: it was rewritten or truncated"
    result.anchorFound = None if against is None else found_anchor
    return result


def _check_entry(line: bytes, prev: str, last_seq: int, event: Event | None, has_log: bool) -> str:
    """Check one line; return its hash or raise _Broken naming the seq that belongs here."""
    expected = event.seq if event is not None else None
    parts = split_line(line)
    if parts is None:
        raise _Broken("entry is malformed: it does not end with a \"hash\" member", expected or _seq_or_none(line))
    body, stored = parts
    try:
        head = _head_decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise _Broken(f"entry is not valid JSON: {exc}", expected or _seq_or_none(line)) from None
    where = expected or head.seq
    if digest(body) != stored:
        raise _Broken(f"entry seq {head.seq}: hash does not match its content (modified)", where)
    if head.previousHash != prev:
        raise _Broken(f"entry seq {head.seq}: previousHash does not match the previous entry's hash "
                      "(an entry was deleted, inserted, duplicated or reordered)", where)
    if head.seq <= last_seq:
        raise _Broken(f"entry seq {head.seq} does not follow seq {last_seq}", where)
    if has_log:
        _match_event(body, head.seq, event, prev)
    return stored


def _match_event(body: bytes, seq: int, event: Event | None, prev: str) -> None:
    if event is None:
        raise _Broken(f"entry seq {seq} has no audited event in the log (fabricated, or the log "
                      "was truncated)", seq)
    if seq != event.seq:
        raise _Broken(f"entry seq {seq} is not the next audited event of the log (seq {event.seq})",
                      min(seq, event.seq))
    if encode_body(body_for(event, prev)) != body:
        raise _Broken(f"entry seq {seq} does not match log event seq {seq} (the event or the entry "
                      "was modified)", seq)


def _seq_of(line: bytes) -> int:
    seq = _seq_or_none(line)
    return seq if seq is not None else -1


def _seq_or_none(line: bytes) -> int | None:
    # Lines start with {"seq":N, by construction; a damaged one may not.
    if not line.startswith(b'{"seq":'):
        return None
    end = line.find(b",", 7)
    digits = line[7:end] if end > 0 else b""
    return int(digits) if digits.isdigit() else None
