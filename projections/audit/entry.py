"""Audit entries: which events are audited, how an event maps to an entry, and the canonical bytes.

Pure: no clock, no files. The canonical encoding (see docs/AUDIT.md) is the entry's JSON line
exactly as written, so a verifier in any language hashes stored bytes and never re-encodes:

    body = {"seq":..,"timestamp":..,"who":..,"what":..,"where":..,"why":..,"metadata":{..},"previousHash":".."}
    hash = "sha256:" + hex(sha256(body))
    line = body without its closing "}" + ',"hash":"' + hash + '"}' + "\\n"
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from fnmatch import fnmatchcase
from typing import Any

import msgspec

from eventlog import Event
from eventlog.codec import encode_event

GENESIS = "GENESIS"
HASH_PREFIX = "sha256:"
#: Bytes after the body's last member: ,"hash":"sha256:<64 hex>"}
HASH_MEMBER = b',"hash":"sha256:'
HASH_TAIL_LEN = len(HASH_MEMBER) + 64 + 2

# Payload keys consulted, in order, for the who/where/why of an entry.
WHO_KEYS = ("who", "actor", "user", "agent_id", "agent")
WHERE_KEYS = ("where", "file", "path", "resource", "target")
WHY_KEYS = ("why", "reason", "message", "error")
_MAPPED_KEYS = frozenset(WHO_KEYS + WHERE_KEYS + WHY_KEYS)


class EntryBody(msgspec.Struct, kw_only=True):
    """An audit entry without its hash. Field order is part of the canonical encoding."""

    seq: int
    timestamp: str
    who: str
    what: str
    where: str | None
    why: str | None
    metadata: dict[str, Any]
    previousHash: str


class AuditEntry(EntryBody, kw_only=True):
    """A stored audit entry, as read back from the chain: the body, then its hash."""

    hash: str

    @property
    def event_id(self) -> str | None:
        value = self.metadata.get("eventId")
        return value if isinstance(value, str) else None


# order="deterministic" sorts every dict's keys, so equal metadata always encodes equally.
_encoder = msgspec.json.Encoder(order="deterministic")
entry_decoder = msgspec.json.Decoder(AuditEntry)


class Selection:
    """Which events are audited: fnmatch patterns over ``type`` and ``type.action`` (default all)."""

    def __init__(self, include: Iterable[str] = ("*",), exclude: Iterable[str] = ()) -> None:
        self.include = tuple(p for p in include if p) or ("*",)
        self.exclude = tuple(p for p in exclude if p)
        self.everything = self.include == ("*",) and not self.exclude

    @classmethod
    def parse(cls, include: str | None, exclude: str | None = None) -> Selection:
        """Build from comma-separated pattern lists (as in LOKI_AUDIT_EVENTS)."""
        split = lambda text: [p.strip() for p in (text or "").split(",") if p.strip()]
        return cls(split(include) or ["*"], split(exclude))

    def audits(self, event: Event) -> bool:
        if self.everything:
            return True
        names = (event.type, f"{event.type}.{event.action}") if event.action else (event.type,)
        hit = lambda patterns: any(fnmatchcase(n, p) for n in names for p in patterns)
        return hit(self.include) and not hit(self.exclude)

    def describe(self) -> str:
        text = ",".join(self.include)
        return text + (f" minus {','.join(self.exclude)}" if self.exclude else "")


def event_hash(event: Event) -> str:
    """Return the digest of the event's canonical log line: it pins every field of the event."""
    return HASH_PREFIX + hashlib.sha256(encode_event(event)).hexdigest()


def body_for(event: Event, previous_hash: str) -> EntryBody:
    """Map one event to its entry (who: actor or source; what: type.action; where; why)."""
    return _body(event, previous_hash, encode_event(event))


def _body(event: Event, previous_hash: str, canonical: bytes) -> EntryBody:
    # ``canonical``: encode_event(event), whose digest pins every field of the event.
    payload = event.payload
    metadata: dict[str, Any] = {
        "eventId": event.id, "eventHash": HASH_PREFIX + hashlib.sha256(canonical).hexdigest(), "type": event.type,
        "source": event.source, "payload": payload,
    }
    if event.stream is not None:
        metadata["stream"] = event.stream
    action = payload.get("action")
    # Most payloads name none of the mapped keys: one set intersection skips three lookups.
    named = not _MAPPED_KEYS.isdisjoint(payload)
    return EntryBody(
        seq=event.seq, timestamp=event.timestamp,
        who=(named and _first_text(payload, WHO_KEYS)) or event.source,
        what=f"{event.type}.{action}" if isinstance(action, str) and action else event.type,
        where=(named and _first_text(payload, WHERE_KEYS)) or event.stream,
        why=_first_text(payload, WHY_KEYS) if named else None,
        metadata=metadata, previousHash=previous_hash,
    )


def _first_text(payload: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = payload.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def encode_body(body: EntryBody) -> bytes:
    """Return the canonical body bytes (the hash input)."""
    return _encoder.encode(body)


def seal(body_bytes: bytes) -> tuple[bytes, str]:
    """Return the full entry line (with ``\\n``) for canonical body bytes, and its hash."""
    digest = HASH_PREFIX + hashlib.sha256(body_bytes).hexdigest()
    return body_bytes[:-1] + b',"hash":"' + digest.encode() + b'"}\n', digest


def entry_line(event: Event, previous_hash: str) -> tuple[bytes, str]:
    """Return the chain line for ``event`` after ``previous_hash``, and the new head hash.

    The same line is asked for up to three times per event: by the audit fold and the Merkle
    fold in one pass (the same event object, one right after the other), then by the chain
    writer and the node store, which read the new events back from the log. Memos answer the
    repeats. The line is a pure function of the previous hash and the event's canonical
    encoding, so a hit needs the same object or the same encoding: a memo never changes an answer.
    """
    global _last
    last = _last
    if last[0] is event and last[1] == previous_hash:
        return last[2]
    canonical = encode_event(event)
    key = (event.seq, previous_hash)
    known = _memo.get(key)
    if known is not None and known[0] == canonical:
        out = known[1]
    else:
        out = seal(encode_body(_body(event, previous_hash, canonical)))
        if len(_memo) >= _MEMO_LIMIT:
            _memo.clear()  # forgetting in bulk is cheaper than in order, and only costs hits
            _next.clear()
        _memo[key] = (canonical, out)
    _next[previous_hash] = (event.seq, out)
    _last = (event, previous_hash, out)
    return out


def chain_after(previous_hash: str, head: str, upto_seq: int) -> list[tuple[int, bytes, str]] | None:
    """The entries this process computed from ``previous_hash`` on up to the entry ``head``, as
    ``(seq, line, hash)`` in chain order; None when they are not all remembered.

    The chain writer and the node store extend their files from the head on disk to the head a
    fold computed: when the fold ran in this process (a catch-up), its lines are here, and they
    need not read the events back from the log. Each remembered entry names the hash it
    follows, so a walk that reaches ``head`` is that stretch of the chain and no other.
    """
    out: list[tuple[int, bytes, str]] = []
    current = previous_hash
    while current != head:
        step = _next.get(current)
        if step is None or step[0] > upto_seq or len(out) >= _MEMO_LIMIT:
            return None
        seq, (line, current) = step
        out.append((seq, line, current))
    return out


#: The last answer (the object it was for is kept, so its identity cannot be reused meanwhile).
_last: tuple[Any, str, tuple[bytes, str]] = (None, "", (b"", ""))
#: (seq, previous hash) -> (the event's canonical line, (entry line, hash)): a catch-up's worth.
_memo: dict[tuple[int, str], tuple[bytes, tuple[bytes, str]]] = {}
_MEMO_LIMIT = 4096
#: previous hash -> (seq, (entry line, hash)) of the entry computed after it (``chain_after``).
_next: dict[str, tuple[int, tuple[bytes, str]]] = {}


def split_line(line: bytes) -> tuple[bytes, str] | None:
    """Split a stored line (without ``\\n``) into its body bytes and stored hash, or None if malformed."""
    if len(line) <= HASH_TAIL_LEN or line[-2:] != b'"}' or line[-HASH_TAIL_LEN:-66] != HASH_MEMBER:
        return None
    return line[:-HASH_TAIL_LEN] + b"}", line[-73:-2].decode("ascii", "replace")


def digest(body_bytes: bytes) -> str:
    return HASH_PREFIX + hashlib.sha256(body_bytes).hexdigest()
