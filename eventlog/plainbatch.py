"""The fast path of `append_many` for plain drafts: mappings of type, source and payload only.

Such a batch cannot conflict with anything (fresh ids, no stream), so it needs none of the
planning of eventlog/appends.py: the events are built directly, one id pool and one timestamp
for the batch. It is what runners and bridges send by the thousand; anything else (an id, a
stream, a NewEvent, any other key) takes the general path.
"""
from __future__ import annotations

import os
from typing import Any, Iterable, Mapping

from .appends import Receipt
from .codec import check_name, check_payload
from .events import FORMAT_VERSION, Event, now_timestamp

_PLAIN_KEYS = frozenset(("type", "source", "payload"))
_MISSING = object()


def plain_drafts(drafts: Iterable[Any]) -> list[tuple[str, str, dict]] | None:
    """(type, source, payload) of every draft, validated; None unless every one is plain."""
    if not isinstance(drafts, (list, tuple)):
        return None
    out = []
    names = set()
    keys = _PLAIN_KEYS
    for draft in drafts:
        if type(draft) is not dict or not draft.keys() <= keys:
            return None
        payload = draft.get("payload", _MISSING)
        if payload is _MISSING:
            payload = {}
        elif type(payload) is not dict:
            check_payload(payload)  # raises, as the general path would
        names.add((draft.get("type"), draft.get("source")))
        out.append((draft.get("type"), draft.get("source"), payload))
    for kind, source in names:  # a batch repeats a handful of names: check each once
        check_name("type", kind)
        check_name("source", source)
    return out


def build(drafts: list[tuple[str, str, dict]], head_seq: int) -> tuple[list[Event], list[Receipt]]:
    """The events of a plain batch appended after ``head_seq``, and their receipts."""
    pool = os.urandom(16 * len(drafts)).hex()  # one read of the random source for every id
    stamp = now_timestamp()
    events, receipts = [], []
    for n, (kind, source, payload) in enumerate(drafts):
        seq, event_id = head_seq + n + 1, pool[32 * n:32 * n + 32]
        events.append(Event(seq=seq, id=event_id, type=kind, source=source, timestamp=stamp,
                            version=FORMAT_VERSION, payload=payload))
        receipts.append(Receipt(event_id, seq, "appended"))
    return events, receipts


def as_mapping(draft: tuple[str, str, dict]) -> Mapping[str, Any]:
    """A plain draft back as the mapping `append_many` was given (for the drop-box fallback)."""
    kind, source, payload = draft
    return {"type": kind, "source": source, "payload": payload}
