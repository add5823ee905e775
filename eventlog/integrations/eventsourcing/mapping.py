"""How the library's stored events and tracking records are written as ordinary lokilog events.

A stored event of application ``app`` becomes::

    {"seq": <notification id>, "type": <topic>, "source": "eventsourcing",
     "stream": <originator id>, "payload": {"application": <app>, "originator_version": <v>,
     "state": <the state bytes, base64>}, ...}

The state bytes are whatever the library's transcoder, compressor and cipher produced; base64
(RFC 4648, standard alphabet, padded) keeps them exactly, since a log line is UTF-8 JSON. An
aggregate recorder for another purpose than ``events`` (the library's snapshots) writes to the
stream ``<purpose>:<originator id>`` and adds ``"purpose"`` to the payload, so that a snapshot
never shares a stream (or a version) with the events it summarises.

A tracking record (``upstream`` application, notification id) processed by application ``app``
becomes an event of type ``eventsourcing.tracking`` in the stream
``eventsourcing.tracking:<app>:<upstream>``, written in the same atomic batch as the events
processing that notification produced.
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent, Tracking

from ...events import Event, NewEvent

SOURCE = "eventsourcing"
TRACKING_TYPE = "eventsourcing.tracking"
EVENTS = "events"


def id_text(originator_id: UUID | str) -> str:
    """The stream name of an originator id (a UUID in its canonical hyphenated form)."""
    return str(originator_id)


def stream_name(originator_id: UUID | str, purpose: str = EVENTS) -> str:
    text = id_text(originator_id)
    return text if purpose == EVENTS else f"{purpose}:{text}"


def tracking_stream(app: str, upstream: str) -> str:
    return f"{TRACKING_TYPE}:{app}:{upstream}"


def event_draft(stored: StoredEvent, app: str, purpose: str = EVENTS) -> NewEvent:
    payload: dict[str, Any] = {
        "application": app,
        "originator_version": stored.originator_version,
        "state": base64.b64encode(stored.state).decode("ascii"),
    }
    if purpose != EVENTS:
        payload["purpose"] = purpose
    return NewEvent(type=stored.topic, source=SOURCE, stream=stream_name(stored.originator_id, purpose),
                    payload=payload)


def tracking_draft(tracking: Tracking, app: str) -> NewEvent:
    return NewEvent(
        type=TRACKING_TYPE, source=SOURCE, stream=tracking_stream(app, tracking.application_name),
        payload={"application": app, "upstream": tracking.application_name,
                 "notification_id": tracking.notification_id},
    )


@dataclass(frozen=True)
class Decoded:
    """A lokilog event read back as the library's record: which application, for what, which record."""

    app: str
    purpose: str
    originator_id: str
    version: int
    topic: str
    state: bytes


def decode_event(event: Event) -> Decoded | None:
    """The stored event an event of ours holds, or None for any other event (or one damaged)."""
    payload = event.payload
    try:
        app = payload["application"]
        version = payload["originator_version"]
        state = base64.b64decode(payload["state"], validate=True)
    except (KeyError, TypeError, ValueError, binascii.Error):
        return None
    purpose = payload.get("purpose", EVENTS)
    stream = event.stream
    if not isinstance(app, str) or not isinstance(version, int) or not isinstance(purpose, str) or stream is None:
        return None
    if purpose != EVENTS:
        prefix = f"{purpose}:"
        if not stream.startswith(prefix):
            return None
        stream = stream[len(prefix):]
    return Decoded(app, purpose, stream, version, event.type, state)


def decode_tracking(event: Event) -> tuple[str, str, int] | None:
    """(application, upstream, notification id) of a tracking event, or None."""
    payload = event.payload
    app, upstream, position = payload.get("application"), payload.get("upstream"), payload.get("notification_id")
    if isinstance(app, str) and isinstance(upstream, str) and isinstance(position, int):
        return app, upstream, position
    return None


def originator(text: str, id_type: str) -> UUID | str:
    """The originator id as the application gave it: a UUID unless ids are configured as text."""
    if id_type == "uuid":
        try:
            return UUID(text)
        except ValueError:
            return text
    return text
