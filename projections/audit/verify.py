"""Verifying the chain: recompute every hash and link, and compare each entry with its log event.

Pure: it walks iterables of stored lines and of log events. The first broken entry is named by
``brokenIndex`` (its position in the chain, 0-based, counting pruned entries) and ``brokenAt``:
the seq of the event that belongs at that position (read from the log when it is given, else
the seq the entry claims). So a deleted entry is reported at the seq it should have held, a
reordered pair at the first displaced seq, a modified event at its own seq.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field

from eventlog import Event

from .entry import HASH_MEMBER, GENESIS, HASH_TAIL_LEN, Selection, body_for, encode_body


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
    walk = _LogWalk(events, selection or Selection(), (start.seq if start else 0) + 1) if events is not None else None
    result = VerifyResult(checkedLog=walk is not None, anchor=against, prunedThrough=start.seq if start else None)
    state = _Walk(start, head_record, against)
    try:
        state.run(lines, walk)
        event = walk.peek() if walk else None
        if head_record and head_record.seq > state.last_seq:
            where = event.seq if event is not None else head_record.seq
            raise _Broken(f"chain ends at seq {state.last_seq} ({state.index} entries) but its recorded head is "
                          f"seq {head_record.seq}: entries were removed from the end", where)
        if walk:
            result.pending = walk.count_rest()
    except _Broken as broken:
        result.valid, result.error, result.brokenAt, result.brokenIndex = False, str(broken), broken.seq, state.index
    result.entries = state.index
    if state.index > (start.entries if start else 0):
        result.head = ChainPoint(state.last_seq, state.prev.decode(), state.index)
    if result.valid and not state.found_anchor:
        result.valid = False
        result.error = f"anchor {against} is not in the chain: it was rewritten or truncated"
    result.anchorFound = None if against is None else state.found_anchor
    return result


class _Walk:
    """The chain walk's running state: previous hash, last seq, entries seen, anchor found."""

    def __init__(self, start: ChainPoint | None, head_record: ChainPoint | None, against: str | None) -> None:
        self.prev = (start.hash if start else GENESIS).encode()
        self.index = start.entries if start else 0
        self.last_seq = start.seq if start else 0
        self.record = (head_record.seq, head_record.hash.encode(), head_record.entries) if head_record else (None, None, None)
        self.against = against.encode() if against is not None else None
        self.found_anchor = against is None or self.against == self.prev

    def run(self, lines: Iterable[bytes], walk: _LogWalk | None) -> None:
        # One flat loop over bytes with locals only, no JSON decoding: verify speed is bounded
        # by sha256 itself. A line is {"seq":N,...,"previousHash":"<prev>","hash":"sha256:<64 hex>"}.
        sha, tail, member, record_seq, record_hash, record_entries = hashlib.sha256, HASH_TAIL_LEN, HASH_MEMBER, *self.record
        link = b',"previousHash":"' + self.prev + b'"}'
        prev, last_seq, index, against = self.prev, self.last_seq, self.index, self.against
        try:
            for line in lines:
                event = walk.peek() if walk else None
                if len(line) <= tail or line[-tail:-66] != member or line[-2:] != b'"}' or line[:7] != b'{"seq":':
                    raise _Broken('entry is malformed: not {"seq":..,"hash":"sha256:.."}',
                                  event.seq if event else _seq_or_none(line))
                body = line[:-tail] + b"}"
                digits = body[7:body.find(b",", 7)]
                seq = int(digits) if digits.isdigit() else -1
                if sha(body).hexdigest().encode() != line[-66:-2]:
                    raise _Broken(f"entry seq {seq}: hash does not match its content (modified)", _at(event, seq))
                if not body.endswith(link):
                    raise _Broken(f"entry seq {seq}: previousHash does not match the previous entry's hash "
                                  "(an entry was deleted, inserted, duplicated or reordered)", _at(event, seq))
                if seq <= last_seq:
                    raise _Broken(f"entry seq {seq} does not follow seq {last_seq}", _at(event, seq))
                stored = line[-73:-2]
                if seq == record_seq and stored != record_hash:
                    raise _Broken(f"entry seq {seq} has hash {stored.decode()}, but the recorded head says "
                                  f"{record_hash.decode()}", seq)
                if seq == record_seq and record_entries is not None and index + 1 != record_entries:
                    raise _Broken(f"entry seq {seq} is entry {index + 1}, but the recorded head says "
                                  f"{record_entries} entries", seq)
                if walk:
                    _match_event(body, seq, event, prev.decode())
                    walk.take()
                prev, last_seq, index = stored, seq, index + 1
                link = b',"previousHash":"' + stored + b'"}'
                if stored == against:
                    self.found_anchor = True
        finally:
            self.prev, self.last_seq, self.index = prev, last_seq, index


def _at(event: Event | None, seq: int) -> int | None:
    """The seq that belongs at a broken position: the log's, else the one the entry claims."""
    return event.seq if event is not None else (seq if seq >= 0 else None)


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


def _seq_or_none(line: bytes) -> int | None:
    # Lines start with {"seq":N, by construction; a damaged one may not.
    if not line.startswith(b'{"seq":'):
        return None
    end = line.find(b",", 7)
    digits = line[7:end] if end > 0 else b""
    return int(digits) if digits.isdigit() else None
