"""The fast path of `append_many` for plain drafts: mappings of type, source and payload only.

Such a batch cannot conflict with anything (fresh ids, no stream), so it needs none of the
planning of eventlog/appends.py: one id pool and one timestamp for the batch, and its lines are
formatted directly from the payloads' JSON (one encoder call for all of them) instead of from an
Event per draft. The bytes are exactly those of the general path (encode_events, then
add_checksums): anything that path would treat specially (a null that may be a NaN, a payload
that does not encode, a line near the size limit) goes back to it. It is what runners and
bridges send by the thousand; anything else (an id, a stream, a NewEvent, any other key) takes
the general path.
"""
from __future__ import annotations

import os
import struct
import zlib
from itertools import chain, repeat
from operator import getitem, itemgetter
from typing import Any, Iterable, Mapping

import msgspec

from .appends import Receipt
from .codec import check_name, check_payload
from .events import FORMAT_VERSION, Event, now_timestamp

_PLAIN_KEYS = frozenset(("type", "source", "payload"))
_MISSING = object()
_encoder = msgspec.json.Encoder()  # the codec's settings: msgspec's defaults
_ENCODE_ERRORS = (TypeError, ValueError, OverflowError, UnicodeEncodeError)
_WITH_CRC = b'%s,"crc":"%s"}\n'  # as codec.add_checksums writes it
_OPEN = slice(0, -1)  # a line without its final "}"


class PlainBatch:
    """The drafts of a plain batch, validated, as three parallel lists."""

    __slots__ = ("kinds", "sources", "payloads")

    def __init__(self, kinds: list, sources: list, payloads: list) -> None:
        self.kinds, self.sources, self.payloads = kinds, sources, payloads

    def __len__(self) -> int:
        return len(self.payloads)


def plain_drafts(drafts: Iterable[Any]) -> PlainBatch | None:
    """The drafts validated, or None unless every one is plain."""
    if not isinstance(drafts, (list, tuple)):
        return None
    # Nearly always dicts of exactly the three keys: checked and taken apart in C, per key.
    if set(map(type, drafts)) - {dict} or set(map(len, drafts)) - {3}:
        return _plain_one_by_one(drafts)
    try:
        kinds, sources, payloads = (list(map(itemgetter(key), drafts)) for key in ("type", "source", "payload"))
    except KeyError:
        return _plain_one_by_one(drafts)  # another key instead of one of them
    if set(map(type, payloads)) - {dict}:
        for payload in payloads:
            check_payload(payload)  # raises for a non-mapping, as the general path would
    return _checked(PlainBatch(kinds, sources, payloads))


def _plain_one_by_one(drafts: list | tuple) -> PlainBatch | None:
    batch = PlainBatch([], [], [])
    keys = _PLAIN_KEYS
    for draft in drafts:
        if type(draft) is not dict or not draft.keys() <= keys:
            return None
        payload = draft.get("payload", _MISSING)
        if payload is _MISSING:
            payload = {}
        else:
            check_payload(payload)
        batch.kinds.append(draft.get("type"))
        batch.sources.append(draft.get("source"))
        batch.payloads.append(payload)
    return _checked(batch)


def _checked(batch: PlainBatch) -> PlainBatch:
    for kind in set(batch.kinds):  # a batch repeats a handful of names: check each once
        check_name("type", kind)
    for source in set(batch.sources):
        check_name("source", source)
    return batch


def mint(count: int) -> str:
    """``count`` fresh ids, one a line, from one read of the random source."""
    return os.urandom(16 * count).hex("\n", 16)


def build(batch: PlainBatch, head_seq: int, pool: str | None = None,
          stamp: str | None = None) -> tuple[list[Event], list[Receipt]]:
    """The events of a plain batch appended after ``head_seq``, and their receipts."""
    ids = (pool or mint(len(batch))).split("\n")
    stamp = stamp or now_timestamp()
    events, receipts = [], []
    for n, (kind, source, payload, event_id) in enumerate(zip(batch.kinds, batch.sources, batch.payloads, ids)):
        seq = head_seq + n + 1
        events.append(Event(seq=seq, id=event_id, type=kind, source=source, timestamp=stamp,
                            version=FORMAT_VERSION, payload=payload))
        receipts.append(Receipt(event_id, seq, "appended"))
    return events, receipts


def encode(batch: PlainBatch, head_seq: int, max_bytes: int, pool: str | None = None,
           stamp: str | None = None) -> tuple[bytes, list[Receipt]] | None:
    """The log lines (crc included) of a plain batch appended after ``head_seq`` and their
    receipts; None when the batch needs the general path's checks (build, encode_events)."""
    # Every step is one C call over the whole batch (a format of n lines, a map of crc32):
    # a Python loop per event costs more than the encoding itself.
    try:
        blob = _encoder.encode_lines(batch.payloads)
    except _ENCODE_ERRORS:
        return None  # the general path names the event whose payload does not encode
    if b"null" in blob:
        return None  # maybe a NaN, which msgspec writes as null: the general path rejects those
    bodies = blob.split(b"\n")  # JSON has no raw newline: one body per payload
    bodies.pop()  # after the final newline
    n = len(bodies)
    if not n:
        return b"", []
    stamp = stamp or now_timestamp()
    templates = {names: _template(*names, stamp) for names in set(zip(batch.kinds, batch.sources))}
    longest = max(map(len, templates.values())) + 24  # the seq's digits at most
    if len(blob) + longest >= max_bytes and max(map(len, bodies)) + longest >= max_bytes:
        return None  # a line may reach the limit: the general path says which one
    if len(templates) == 1:
        lines = next(iter(templates.values())) * n
    else:
        lines = b"".join(map(templates.__getitem__, zip(batch.kinds, batch.sources)))
    pool = pool or mint(n)
    ids = pool.split("\n")
    seqs = range(head_seq + 1, head_seq + n + 1)
    # Each line as encode_events writes it, "}\n" included: its crc is of those bytes.
    lines = (lines % tuple(chain.from_iterable(zip(seqs, pool.encode().split(b"\n"), bodies)))).split(b"\n")
    lines.pop()
    digits = struct.pack(">%dI" % n, *map(zlib.crc32, lines)).hex("\n", 4).encode().split(b"\n")
    data = (_WITH_CRC * n) % tuple(chain.from_iterable(zip(map(getitem, lines, repeat(_OPEN)), digits)))
    return data, list(map(Receipt, ids, seqs, repeat("appended", n)))


def _template(kind: str, source: str, stamp: str) -> bytes:
    # An Event's line without the crc member, with %d for the seq, %s for the id and the
    # payload: the names' JSON is msgspec's, as in the Event, and their % signs are doubled.
    names = b'"type":%s,"source":%s,"timestamp":%s,"version":%s,"payload":' % (
        _encoder.encode(kind), _encoder.encode(source), _encoder.encode(stamp), _encoder.encode(FORMAT_VERSION))
    return b'{"seq":%d,"id":"%s",' + names.replace(b"%", b"%%") + b"%s}\n"


def as_mapping(batch: PlainBatch, n: int) -> Mapping[str, Any]:
    """Draft ``n`` back as the mapping `append_many` was given (for the drop-box fallback)."""
    return {"type": batch.kinds[n], "source": batch.sources[n], "payload": batch.payloads[n]}
