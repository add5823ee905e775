"""The event envelope (format v1) and the small pure helpers that mint its fields."""
from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from typing import Any

import msgspec

FORMAT_VERSION = "1.0"

#: Types and sources of the reference system. Known, not closed: others are kept as written.
KNOWN_TYPES = frozenset(
    {"state", "memory", "task", "metric", "error", "session", "command", "user"}
)
KNOWN_SOURCES = frozenset(
    {"cli", "api", "vscode", "mcp", "skill", "hook", "dashboard", "memory", "runner"}
)

# Top-level fields unknown to format v1 are carried in ``extra`` and written back at the top
# level. The wire name is one no writer emits, so a real top-level "extra" key stays unknown
# and takes the lossless slow path instead of being mistaken for this field.
_EXTRA_WIRE_NAME = "__lokilog_extra__"


class Event(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    omit_defaults=True,
    forbid_unknown_fields=True,
    gc=False,
):
    """One stored event: the seq the log assigned and the envelope as written.

    Field order is the canonical order of a log line; the payload comes last so a person
    reading the file sees the envelope first. ``version`` has no default so that it is
    always written; optional fields are written only when set.
    """

    seq: int
    id: str
    type: str
    source: str
    timestamp: str
    version: str
    stream: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    payload: dict[str, Any]
    #: The CRC-32 its log line carried (eventlog/codec.py): a property of the stored line, not of
    #: the event, so to_dict() and the canonical encoding leave it out.
    crc: str | None = None
    extra: dict[str, Any] = msgspec.field(default_factory=dict, name=_EXTRA_WIRE_NAME)

    @property
    def action(self) -> str | None:
        """Return ``payload["action"]`` when it is a string (the reference sub-type)."""
        value = self.payload.get("action")
        return value if isinstance(value, str) else None

    def to_dict(self) -> dict[str, Any]:
        """Return the event as the JSON object stored in the log."""
        out = {f: getattr(self, f) for f in _WIRE_FIELDS if getattr(self, f) is not None}
        out.update(self.extra)
        return out


class RawEvent(msgspec.Struct, frozen=True, gc=False):
    """A stored event whose payload is left undecoded: for fast scans and filters."""

    seq: int
    id: str
    type: str
    source: str
    timestamp: str
    payload: msgspec.Raw
    stream: str | None = None


_WIRE_FIELDS = tuple(f for f in Event.__struct_fields__ if f not in ("extra", "crc"))
ENVELOPE_FIELDS = frozenset(_WIRE_FIELDS) | {"crc"}


def new_event_id() -> str:
    """Mint a 128-bit random event id (the reference system's 32 bits collided in practice)."""
    return os.urandom(16).hex()


def format_timestamp(moment: datetime) -> str:
    """Format an aware datetime as RFC 3339 UTC with milliseconds, e.g. 2026-02-21T10:00:00.000Z."""
    utc = moment.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


_second_cache: tuple[int, str] = (-1, "")


def now_timestamp() -> str:
    """Return the current time in the log's timestamp format."""
    global _second_cache
    ns = time.time_ns()
    second, rest = divmod(ns, 1_000_000_000)
    cached_second, prefix = _second_cache
    if second != cached_second:
        # strftime costs more than the rest of an append: format each second once.
        prefix = datetime.fromtimestamp(second, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.")
        _second_cache = (second, prefix)
    return f"{prefix}{rest // 1_000_000:03d}Z"


def parse_timestamp(text: str) -> datetime:
    """Parse an RFC 3339 / ISO 8601 timestamp into an aware UTC datetime.

    Accepts ``Z`` or numeric offsets, seconds-only to nanosecond precision; a naive
    timestamp is taken as UTC (the reference writers all mean UTC).
    """
    if not isinstance(text, str) or not text:
        raise ValueError(f"not a timestamp: {text!r}")
    value = text.strip()
    if value[-1:] in ("Z", "z"):
        value = value[:-1] + "+00:00"
    value = _trim_fraction(value)
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _trim_fraction(value: str) -> str:
    # datetime.fromisoformat takes at most 6 fractional digits; nanosecond writers send 9.
    dot = value.find(".", 10)
    if dot < 0:
        return value
    end = dot + 1
    while end < len(value) and value[end].isdigit():
        end += 1
    digits = value[dot + 1 : end]
    if len(digits) <= 6:
        return value
    return value[: dot + 1] + digits[:6] + value[end:]


class NewEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An event to append: the log assigns its seq, and its id and timestamp when not given.

    ``expected_version`` (with ``stream``) makes the append conditional: it succeeds only if
    the stream holds exactly that many events, as EventStoreDB's expected version does.
    """

    type: str
    source: str
    payload: dict[str, Any] = msgspec.field(default_factory=dict)
    id: str | None = None
    timestamp: str | None = None
    stream: str | None = None
    expected_version: int | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    version: str = FORMAT_VERSION
    extra: dict[str, Any] = msgspec.field(default_factory=dict)
