"""Loki Mode's own event formats, parsed and mapped onto format v1. Pure: bytes in, drafts out.

Two shapes exist in a Loki Mode `.loki/`:

- one event per file in ``events/pending/`` and ``events/archive/`` (bus.py, bus.ts, emit.sh),
  nested ``{id, type, source, timestamp, payload, version}``, pretty-printed or compact;
- flat lines ``{timestamp, type, data}`` in ``events.jsonl`` and ``events.jsonl.1`` (run.sh,
  emit.sh), with no id, ``source`` (if any) inside ``data`` and the body in ``data``; run.sh's
  hook writer's lines carry ``source`` and ``payload`` at the top level instead.

run.sh's ``emit_event_pending`` files have no ``source`` (it becomes :data:`FILE_DEFAULT_SOURCE`),
and bus.py's ``import_from_jsonl`` copies flat lines into files whose 16-hex id is derived from the
line (:func:`import_copy_id`): such a copy is the same event as its line, not a second one.

Their ids have 32 bits or fewer and collide, and flat lines have none, so an event's identity
here is its *match key*: a hash of its instant, type and body. Equal keys are counted, never
merged blindly: the ingester stores as many events per key as the most copies any one
writer produced (see eventlog/legacy/ingest.py).
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from ..codec import check_id
from ..errors import EventDecodeError, InvalidEventError
from ..events import ENVELOPE_FIELDS, FORMAT_VERSION, KNOWN_TYPES, NewEvent, parse_timestamp

#: Ids shorter than this carry fewer than 64 bits (Loki Mode mints 8 hex or base36 characters).
STRONG_ID_CHARS = 16
#: Where a flat line's writer left no source: run.sh, the runner, writes flat-only lines.
FLAT_DEFAULT_SOURCE = "runner"
#: Where an event file has no source: run.sh's ``emit_event_pending`` (the runner) writes none.
FILE_DEFAULT_SOURCE = "runner"
#: Length of the ids bus.py's ``import_from_jsonl`` derives from a flat line.
IMPORT_ID_CHARS = 16
#: The top-level field that records what a legacy event looked like before mapping.
LEGACY_FIELD = "legacy"
#: Prefix of the ids lokilog derives for legacy events.
DERIVED_PREFIX = "lm-"

_decoder = msgspec.json.Decoder()
_canonical = msgspec.json.Encoder(order="deterministic")
_plain = msgspec.json.Encoder()
_FLAT_START = re.compile(rb'\{\s*"timestamp"\s*:')


@dataclass(frozen=True)
class Record:
    """One legacy event as read: the draft to store and how to identify it.

    ``native`` records carry a strong id (or were written by lokilog itself) and are stored
    under that id; the others are identified by ``key`` and counted. A Loki Mode file's draft
    carries its own id (kept when free); a flat line's has none (one is derived).
    """

    draft: NewEvent
    key: str
    native: bool = False
    legacy_id: str | None = None


@dataclass(frozen=True)
class FlatLine:
    """A complete line of a flat file: where it starts and its bytes (without the newline)."""

    offset: int
    data: bytes
    end: int = field(default=0)


def is_weak_id(value: str) -> bool:
    """True for ids too short to be unique (Loki Mode's 32-bit ids)."""
    return len(value) < STRONG_ID_CHARS


def derived_id(key: str, occurrence: int) -> str:
    """Return the id of the ``occurrence``-th (from 0) distinct event with this match key."""
    return f"{DERIVED_PREFIX}{key[:32]}-{occurrence}"


def instant(timestamp: str) -> str:
    """Normalize a timestamp to one spelling per instant (Z, +00:00, seconds or microseconds)."""
    moment: datetime = parse_timestamp(timestamp)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def match_key(timestamp: str, type: str, payload: dict[str, Any]) -> str:
    """Hash an event's instant, type and body: equal for the two copies emit.sh writes."""
    material = _canonical.encode([instant(timestamp), type, payload])
    return hashlib.sha256(material).hexdigest()


def split_compound(type: str, payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Map ``session_start`` to type ``session`` with action ``start`` (unless the payload has one).

    Only a known type followed by ``_`` is split; anything else is kept as written.
    """
    if type in KNOWN_TYPES or "_" not in type:
        return type, payload
    head, _, action = type.partition("_")
    if head not in KNOWN_TYPES or not action:
        return type, payload
    if "action" in payload:
        return head, payload
    return head, {"action": action, **payload}


def import_copy_id(timestamp: Any, type: Any, payload: Any) -> str:
    """The id bus.py's ``import_from_jsonl`` gives the copy of a flat line.

    The first 16 hex digits of sha1("<timestamp>|<type>|<json.dumps(payload, sort_keys=True)>"),
    with Python's default separators and ASCII escaping, exactly as bus.py computes it.
    """
    body = json.dumps(payload, sort_keys=True)
    return hashlib.sha1(f"{timestamp}|{type}|{body}".encode()).hexdigest()[:IMPORT_ID_CHARS]


def parse_file(name: str, data: bytes, own: bool = False) -> Record:
    """Parse a pending/archive file; raise EventDecodeError naming what is wrong.

    ``own`` says the file's name marks it as written by a lokilog client.
    """
    obj = decode_object(data, "an event file")
    missing = [k for k in ("id", "type", "timestamp") if k not in obj]
    if missing:
        raise EventDecodeError(f"missing field(s) {', '.join(missing)}")
    event_id = obj["id"]
    try:
        check_id(event_id)
    except InvalidEventError as exc:
        raise EventDecodeError(str(exc)) from exc
    payload = obj.get("payload", {})
    if not isinstance(payload, dict):
        raise EventDecodeError(f"payload must be a JSON object, not {type(payload).__name__}")
    native = own or _written_by_lokilog(obj, data)
    if native and "source" not in obj:
        raise EventDecodeError("missing field(s) source")
    if not native and _is_import_copy(obj, payload):
        return _import_copy(obj, payload)
    if native or not is_weak_id(event_id):
        if "source" in obj:
            return Record(_native_draft(obj), key="", native=True)
    extra = {k: v for k, v in obj.items() if k not in ENVELOPE_FIELDS}
    record = _mapped(obj["type"], obj.get("source", FILE_DEFAULT_SOURCE), obj["timestamp"], payload,
                     obj.get("version", FORMAT_VERSION), extra, {}, legacy_id=event_id)
    return Record(msgspec.structs.replace(record.draft, id=event_id), record.key, legacy_id=event_id)


def _is_import_copy(obj: dict[str, Any], payload: dict[str, Any]) -> bool:
    event_id = obj["id"]
    if len(event_id) != IMPORT_ID_CHARS or any(c not in "0123456789abcdef" for c in event_id):
        return False
    try:
        return import_copy_id(obj["timestamp"], obj["type"], payload) == event_id
    except (TypeError, ValueError):
        return False


def _import_copy(obj: dict[str, Any], payload: dict[str, Any]) -> Record:
    # Mapped exactly as its flat line is (a string data.source moves to the source), so both
    # have one match key and are counted as two copies of one event.
    top = obj.get("source")
    if isinstance(top, str) and top and payload.get("source") == top:
        payload = {k: v for k, v in payload.items() if k != "source"}  # bus.py took it from data.source
    body, source = _split_source(payload, top if isinstance(top, str) and top else None)
    extra = {k: v for k, v in obj.items() if k not in ENVELOPE_FIELDS}
    record = _mapped(obj["type"], source, obj["timestamp"], body, obj.get("version", FORMAT_VERSION), extra,
                     {"format": "import"}, legacy_id=obj["id"])
    return Record(msgspec.structs.replace(record.draft, id=obj["id"]), record.key, legacy_id=obj["id"])


def parse_flat(line: bytes) -> Record:
    """Parse one flat line ``{timestamp, type, data}``; raise EventDecodeError naming what is wrong."""
    obj = decode_object(line, "a flat line")
    missing = [k for k in ("timestamp", "type") if k not in obj]
    if missing:
        raise EventDecodeError(f"not a flat event: missing {', '.join(missing)}")
    top_source = obj.get("source")
    consumed = {"timestamp", "type", "data"}
    if "data" not in obj and isinstance(obj.get("payload"), dict):
        # run.sh's hook writer: top-level source and payload, no data.
        data = obj["payload"]
        consumed.add("payload")
    else:
        data = obj.get("data", {})
    has_top = isinstance(top_source, str) and bool(top_source)
    if has_top:
        consumed.add("source")  # a top-level source wins over data.source, as in bus.py's import
    if isinstance(data, dict):
        payload, source = _split_source(data, top_source if has_top else None)
    else:
        # run.sh's emit_event writes the body as one string: keep it, under its own name.
        payload, source = {"data": data}, top_source if has_top else FLAT_DEFAULT_SOURCE
    extra = {k: v for k, v in obj.items() if k not in consumed and k not in ENVELOPE_FIELDS}
    return _mapped(obj["type"], source, obj["timestamp"], payload, FORMAT_VERSION, extra, {"format": "flat"})


def _split_source(data: dict[str, Any], top: str | None) -> tuple[dict[str, Any], str]:
    """The payload and source of a flat body: ``top`` if given, else a string data.source (moved out)."""
    payload = dict(data)
    if top is not None:
        return payload, top
    inner = payload.get("source")
    if isinstance(inner, str) and inner:
        del payload["source"]
        return payload, inner
    return payload, FLAT_DEFAULT_SOURCE


def salvage(line: bytes) -> tuple[bytes, bytes] | None:
    """Split a line where an unlocked append cut into another: return (garbage, last whole event)."""
    for found in reversed(list(_FLAT_START.finditer(line))):
        if found.start() == 0:
            break
        tail = line[found.start():]
        try:
            parse_flat(tail)
        except EventDecodeError:
            continue
        return line[: found.start()], tail
    return None


def complete_lines(chunk: bytes, base_offset: int) -> tuple[list[FlatLine], int]:
    """Split a chunk into its newline-terminated lines; return them and the end of the last one.

    A final line without its newline is still being written (or torn): it is not returned.
    """
    lines: list[FlatLine] = []
    start = 0
    while True:
        nl = chunk.find(b"\n", start)
        if nl < 0:
            return lines, base_offset + start
        body = chunk[start:nl].rstrip(b"\r")
        if body.strip():
            lines.append(FlatLine(base_offset + start, body, base_offset + nl + 1))
        start = nl + 1


def decode_object(data: bytes, what: str) -> dict[str, Any]:
    """Decode one JSON object written by Loki Mode; EventDecodeError names what is wrong."""
    if not data.strip():
        raise EventDecodeError("empty (still being written?)")
    try:
        obj = _decoder.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        # Which of the two msgspec raises for bad UTF-8 differs between its versions, so the
        # reason is decided here, from the bytes, and never from the library's wording.
        raise EventDecodeError(_decode_failure(data, exc)) from exc
    if not isinstance(obj, dict):
        raise EventDecodeError(f"{what} is a JSON object, not {type(obj).__name__}")
    return obj


def _decode_failure(data: bytes, exc: Exception) -> str:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as bad:
        return f"not UTF-8 text: invalid byte 0x{data[bad.start]:02x} at offset {bad.start}"
    return f"not valid JSON (torn or still being written?): {exc}"


def _written_by_lokilog(obj: dict[str, Any], data: bytes) -> bool:
    # lokilog's drop box writes exactly its compact canonical line; Loki Mode's writers
    # pretty-print with the payload before the version, so this never matches theirs.
    return _plain.encode(obj) + b"\n" == data and _first_keys(obj) == ["id", "type", "source", "timestamp", "version"]


def _first_keys(obj: dict[str, Any]) -> list[str]:
    return list(obj)[:5]


def _native_draft(obj: dict[str, Any]) -> NewEvent:
    known = {k: v for k, v in obj.items() if k in ENVELOPE_FIELDS and k != "seq"}
    extra = {k: v for k, v in obj.items() if k not in ENVELOPE_FIELDS}
    known.setdefault("payload", {})
    try:
        return msgspec.convert({**known, "extra": extra}, NewEvent)
    except msgspec.ValidationError as exc:
        raise EventDecodeError(str(exc)) from exc


def _mapped(raw_type: Any, source: Any, timestamp: Any, payload: dict[str, Any], version: Any,
            extra: dict[str, Any], legacy: dict[str, Any], legacy_id: str | None = None) -> Record:
    for name, value in (("type", raw_type), ("source", source), ("timestamp", timestamp), ("version", version)):
        if not isinstance(value, str) or not value:
            raise EventDecodeError(f"{name} must be a non-empty string, got {value!r}")
    try:
        key_instant = instant(timestamp)
    except (ValueError, TypeError) as exc:
        raise EventDecodeError(f"timestamp {timestamp!r} is not RFC 3339: {exc}") from exc
    event_type, body = split_compound(raw_type, payload)
    if event_type != raw_type:
        legacy = {**legacy, "type": raw_type}
    if legacy:
        if LEGACY_FIELD in extra:
            raise EventDecodeError(f"top-level field {LEGACY_FIELD!r} is reserved for lokilog's provenance")
        extra = {**extra, LEGACY_FIELD: legacy}
    draft = NewEvent(type=event_type, source=source, timestamp=timestamp, payload=body, version=version, extra=extra)
    material = _canonical.encode([key_instant, event_type, body])
    return Record(draft, hashlib.sha256(material).hexdigest(), legacy_id=legacy_id)


__all__ = [
    "DERIVED_PREFIX", "FILE_DEFAULT_SOURCE", "FLAT_DEFAULT_SOURCE", "FlatLine", "import_copy_id", "LEGACY_FIELD", "Record", "STRONG_ID_CHARS",
    "complete_lines", "derived_id", "instant", "is_weak_id", "match_key", "parse_file", "parse_flat",
    "salvage", "split_compound",
]
