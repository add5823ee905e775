"""Which events a read selects: a pure predicate over events, built from user input."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

import msgspec

from .errors import InvalidEventError
from .events import Event, RawEvent, parse_timestamp

_MISSING = object()


class Condition(msgspec.Struct, frozen=True):
    """``path=value`` or ``path!=value`` over an event, ``path`` dotted (``payload.task_id``)."""

    path: tuple[str, ...]
    value: str
    negate: bool = False

    @classmethod
    def parse(cls, text: str) -> "Condition":
        """Parse ``payload.key=value`` (or ``!=``); the path's first part is an envelope field."""
        negate = "!=" in text
        left, sep, right = text.partition("!=" if negate else "=")
        if not sep or not left.strip():
            raise InvalidEventError(f"{text!r}: expected FIELD=VALUE, e.g. payload.task_id=t1", parameter="where")
        return cls(tuple(left.strip().split(".")), right, negate)

    def matches(self, event: Event) -> bool:
        found = _lookup(event, self.path)
        equal = found is not _MISSING and _as_text(found) == self.value
        return equal != self.negate


def _lookup(event: Event, path: tuple[str, ...]) -> Any:
    head, *rest = path
    if head in event.extra:
        node = event.extra[head]
    else:
        node = getattr(event, head, _MISSING) if head in Event.__struct_fields__ else _MISSING
    for key in rest:
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return _MISSING
    return node


def _as_text(value: Any) -> str:
    # Strings compare as written; anything else as its JSON text (true, 3, null, {"a":1}).
    return value if isinstance(value, str) else msgspec.json.encode(value).decode()


class EventFilter(msgspec.Struct, frozen=True):
    """A conjunction of selections; an empty filter selects every event."""

    types: frozenset[str] = frozenset()
    sources: frozenset[str] = frozenset()
    streams: frozenset[str] = frozenset()
    since: datetime | None = None
    until: datetime | None = None
    where: tuple[Condition, ...] = msgspec.field(default_factory=tuple)

    @classmethod
    def build(
        cls,
        types: Iterable[str] = (),
        sources: Iterable[str] = (),
        streams: Iterable[str] = (),
        since: str | datetime | None = None,
        until: str | datetime | None = None,
        where: Iterable[str | Condition] = (),
    ) -> "EventFilter":
        """Build a filter from user-level values, with clear errors for bad ones."""
        result = cls(
            frozenset(types), frozenset(sources), frozenset(streams),
            _moment("since", since), _moment("until", until),
            tuple(c if isinstance(c, Condition) else Condition.parse(c) for c in where),
        )
        if result.since and result.until and result.since > result.until:
            raise InvalidEventError(f"{since} is after the end of the range ({until})", parameter="since")
        return result

    @property
    def needs_payload(self) -> bool:
        """True when the filter looks beyond the envelope."""
        return bool(self.where)

    @property
    def empty(self) -> bool:
        return not (self.types or self.sources or self.streams or self.since or self.until or self.where)

    def matches_envelope(self, event: Event | RawEvent) -> bool:
        """Apply every selection that needs only the envelope."""
        if self.types and event.type not in self.types:
            return False
        if self.sources and event.source not in self.sources:
            return False
        if self.streams and event.stream not in self.streams:
            return False
        if self.since or self.until:
            try:
                moment = parse_timestamp(event.timestamp)
            except ValueError:
                return False
            if self.since and moment < self.since:
                return False
            if self.until and moment > self.until:
                return False
        return True

    def matches(self, event: Event) -> bool:
        """Apply every selection."""
        return self.matches_envelope(event) and all(c.matches(event) for c in self.where)


def _moment(name: str, value: str | datetime | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        return parse_timestamp(value)
    except ValueError as exc:
        raise InvalidEventError(f"{value!r} is not an RFC 3339 timestamp: {exc}", parameter=name) from exc
