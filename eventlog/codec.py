"""Bytes <-> events for the log's JSONL lines, and validation of new events. No I/O."""
from __future__ import annotations

import math
import re
import zlib
from typing import Any, Iterator, Mapping

import msgspec

from .errors import EventDecodeError, EventTooLargeError, InvalidEventError
from .events import ENVELOPE_FIELDS, FORMAT_VERSION, Event, RawEvent, parse_timestamp

#: Default bound on one encoded line (the envelope plus payload), in bytes.
DEFAULT_MAX_EVENT_BYTES = 1024 * 1024

_encoder = msgspec.json.Encoder()
_event_decoder = msgspec.json.Decoder(Event)
_raw_decoder = msgspec.json.Decoder(RawEvent)
_any_decoder = msgspec.json.Decoder()


class Envelope(msgspec.Struct, frozen=True, gc=False):
    """The three fields a fold needs of an event it does not read: where it is, and what it is."""

    seq: int
    id: str
    type: str


_envelope_decoder = msgspec.json.Decoder(Envelope)

# Ids appear in drop-box file names and in shell pipelines: printable ASCII, no separators.
# msgspec reports invalid UTF-8 inside a string as UnicodeDecodeError, not DecodeError.
_DECODE_ERRORS = (msgspec.DecodeError, UnicodeDecodeError)

_ID_PATTERN = re.compile(r"[A-Za-z0-9._:@+=-]{1,200}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NAME_LIMIT = 200


def encode_event(event: Event, max_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> bytes:
    """Encode an event as one log line, ``\\n`` included (without the crc it was read with)."""
    if event.crc is not None:
        event = msgspec.structs.replace(event, crc=None)
    try:
        if event.extra:
            body = _encoder.encode(msgspec.structs.replace(event, extra={}))
            body = body[:-1] + b"," + _encoder.encode(event.extra)[1:]
        else:
            body = _encoder.encode(event)
    except (TypeError, ValueError, OverflowError, UnicodeEncodeError) as exc:
        raise InvalidEventError(f"event {event.id}: payload cannot be encoded as JSON: {exc}") from exc
    if b"null" in body:
        _reject_non_finite(event.payload, "payload")
    if len(body) + 1 > max_bytes:
        raise EventTooLargeError(
            f"event {event.id} is {len(body) + 1} bytes encoded; the limit is {max_bytes}"
        )
    return body + b"\n"


def encode_events(events: list[Event], max_bytes: int = DEFAULT_MAX_EVENT_BYTES):
    """Encode a batch as one buffer of lines; return it and a function listing its lines.

    Plain batches are encoded in one call; anything unusual (extra fields, a null that may be a
    NaN, a possibly oversize line) takes the checked path of :func:`encode_event`.
    """
    if len(events) == 1:
        line = encode_event(events[0], max_bytes)
        return line, lambda: [line]
    data = None
    if not any(e.extra or e.crc for e in events):
        data = _encoder.encode_lines(events)
        if b"null" in data or (len(data) > max_bytes and max(map(len, data.split(b"\n"))) >= max_bytes):
            data = None
    if data is None:
        lines = [encode_event(e, max_bytes) for e in events]
        data = lines[0] if len(lines) == 1 else b"".join(lines)
        return data, lambda: lines
    return data, lambda: data.splitlines(keepends=True)


# ---------------------------------------------------------------- record checksums
#
# A line written by a Python writer ends with the member ,"crc":"<8 hex digits>": the CRC-32
# (zlib's, as in gzip) of the line without that member, i.e. of the event as encoded. It is a
# property of the line, not of the event: decoded events carry it in ``crc``, but their
# canonical encoding (the audit chain hashes it) and to_dict() leave it out. Lines
# without one (older logs, the bash emitter) still read; verify counts them.

CRC_MEMBER = b',"crc":"'
_CRC_LEN = len(CRC_MEMBER) + 10  # ,"crc":"  8 hex digits  "}
# The shape of a final member "xxx":"8 chars": a crc whose name or digits were damaged.
_HEX8 = re.compile(rb"[0-9a-f]{8}")
_CRC_LIKE = re.compile(rb',"[^"\\]{3}":"[^"\\]{8}"\}')


def add_checksums(data: bytes) -> bytes:
    """Append the crc member to every line of a buffer of whole encoded lines."""
    crc32 = zlib.crc32
    if data.count(b"\n") == 1:
        return b'%s,"crc":"%08x"}\n' % (data[:-2], crc32(data[:-1]))
    lines = data.split(b"\n")
    lines.pop()  # after the final newline
    return b"".join([b'%s,"crc":"%08x"}\n' % (line[:-1], crc32(line)) for line in lines])


def check_line(line: bytes) -> bool | None:
    """True if a line's crc matches, False if it does not (or the member is damaged), None
    for a line without one. ``line`` is without its newline."""
    if len(line) < _CRC_LEN:
        return None
    if line[-_CRC_LEN:-10] == CRC_MEMBER:
        digits = line[-10:-2]
        if line[-2:] != b'"}' or _HEX8.fullmatch(digits) is None:
            return False
        return zlib.crc32(line[:-_CRC_LEN] + b"}") == int(digits, 16)
    if _CRC_LIKE.fullmatch(line, len(line) - _CRC_LEN):
        return False
    return None


def _reject_non_finite(value: Any, where: str) -> None:
    # msgspec writes NaN and infinities as null; storing them would silently change the value.
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidEventError(f"{where} holds {value!r}, which JSON cannot represent")
    if isinstance(value, Mapping):
        for key, item in value.items():
            _reject_non_finite(item, f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _reject_non_finite(item, f"{where}[{i}]")


def decode_event(line: bytes | str) -> Event:
    """Decode one log line (with or without its ``\\n``) into an Event, keeping unknown fields."""
    try:
        return _event_decoder.decode(line)
    except _DECODE_ERRORS:
        return _decode_event_slow(line)


def _decode_event_slow(line: bytes | str) -> Event:
    try:
        obj = _any_decoder.decode(line)
    except _DECODE_ERRORS as exc:
        raise EventDecodeError(f"not valid JSON: {exc}") from exc
    return event_from_mapping(obj)


def event_from_mapping(obj: Any) -> Event:
    """Build an Event from a decoded JSON object, moving unknown top-level keys into ``extra``."""
    if not isinstance(obj, dict):
        raise EventDecodeError(f"an event is a JSON object, not {type(obj).__name__}")
    known = {k: v for k, v in obj.items() if k in ENVELOPE_FIELDS}
    extra = {k: v for k, v in obj.items() if k not in ENVELOPE_FIELDS}
    try:
        return msgspec.convert({**known, "__lokilog_extra__": extra}, Event)
    except msgspec.ValidationError as exc:
        raise EventDecodeError(f"not a v1 event: {exc}") from exc


def decode_raw(line: bytes) -> RawEvent:
    """Decode a line's envelope, leaving the payload as undecoded JSON bytes."""
    try:
        return _raw_decoder.decode(line)
    except _DECODE_ERRORS as exc:
        raise EventDecodeError(f"not a v1 event: {exc}") from exc


def decode_chunk(chunk: bytes, raw: bool = False) -> list[Event] | list[RawEvent] | None:
    """Decode a buffer of whole lines in one call; None when some line needs the slow path."""
    try:
        return (_raw_decoder if raw else _event_decoder).decode_lines(chunk)
    except _DECODE_ERRORS:
        return None


def decode_chunk_for(chunk: bytes, types: frozenset[str]) -> list[Event | Envelope] | None:
    """Decode a buffer of whole lines, in full only the events whose type is in ``types``.

    The others come back as an :class:`Envelope`. None when some line needs the slow path.
    """
    try:
        heads: list = _envelope_decoder.decode_lines(chunk)
        wanted = [n for n, head in enumerate(heads) if head.type in types]
        if len(wanted) * 2 > len(heads):  # mostly read: one call for the whole buffer is cheaper
            return _event_decoder.decode_lines(chunk)
        if not wanted:
            return heads
        lines = chunk.split(b"\n")
        lines.pop()  # after the final newline
        if len(lines) != len(heads):  # blank lines, which decode_lines skips
            lines = [line for line in lines if line.strip()]
        decode = _event_decoder.decode
        for n in wanted:
            heads[n] = decode(lines[n])
        return heads
    except _DECODE_ERRORS:
        return None


def iter_lines(chunk: bytes, base_offset: int = 0) -> Iterator[tuple[int, bytes]]:
    """Yield ``(byte offset, line without its newline)`` for each line of a chunk of whole lines."""
    start = 0
    end = len(chunk)
    while start < end:
        nl = chunk.find(b"\n", start)
        if nl < 0:
            nl = end
        yield base_offset + start, chunk[start:nl]
        start = nl + 1


_valid_names: set[str] = set()


def check_name(kind: str, value: Any) -> str:
    """Validate a type, source or stream name: a short non-empty string without control characters."""
    if value in _valid_names:  # the same few types and sources repeat in nearly every event
        return value
    if not isinstance(value, str) or not value:
        raise InvalidEventError(f"{kind} must be a non-empty string, got {value!r}")
    if len(value) > _NAME_LIMIT:
        raise InvalidEventError(f"{kind} is {len(value)} characters; the limit is {_NAME_LIMIT}")
    if _CONTROL.search(value):
        raise InvalidEventError(f"{kind} {value!r} contains control characters")
    if len(_valid_names) < 10_000:
        _valid_names.add(value)
    return value


def check_id(value: Any) -> str:
    """Validate an event id: 1-200 characters of ``A-Z a-z 0-9 . _ : @ + = -``."""
    if not isinstance(value, str) or not _ID_PATTERN.fullmatch(value):
        raise InvalidEventError(
            f"event id {value!r} must be 1-200 characters of letters, digits and . _ : @ + = -"
        )
    return value


def check_timestamp(value: Any) -> str:
    """Validate a timestamp string and return it unchanged (stored as written)."""
    try:
        parse_timestamp(value)
    except (ValueError, TypeError) as exc:
        raise InvalidEventError(f"timestamp {value!r} is not RFC 3339: {exc}") from exc
    return value


def check_payload(value: Any) -> dict[str, Any]:
    """Validate that a payload is a JSON object with string keys."""
    if not isinstance(value, dict):
        raise InvalidEventError(f"payload must be a JSON object, got {type(value).__name__}")
    return value


def check_version(value: Any) -> str:
    """Validate the envelope version string."""
    if not isinstance(value, str) or not value:
        raise InvalidEventError(f"version must be a non-empty string like {FORMAT_VERSION!r}")
    return value
