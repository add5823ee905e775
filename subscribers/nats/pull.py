"""The other direction: read a stream in stream order, print it or mirror it into a view.

A mirror is a dedicated `.loki/` (marked by `events/nats-mirror.json`) whose log holds the
stream's events in stream order, each with its fields as written plus a top-level
`loki_origin` {host, id, seq, stream_seq}; the normal projections then fold it, so several
machines feed one status, audit chain and cost ledger.
"""
from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator

import msgspec

from eventlog import FileEventLog, NewEvent
from eventlog.fsutil import atomic_write

from .identity import BridgeError, mirror_marker
from .jetstream import connect, scan

ORIGIN_FIELD = "loki_origin"
_ENVELOPE = ("id", "type", "source", "timestamp", "version", "stream", "correlation_id", "causation_id", "payload")


def origin_of(msg, stream_seq: int) -> dict:
    h = msg.headers or {}
    return {"host": h.get("Loki-Origin-Host"), "id": h.get("Loki-Origin-Id"),
            "seq": int(h.get("Loki-Origin-Seq", 0)), "stream_seq": stream_seq}


async def events_from(url: str, stream: str, start_seq: int = 1) -> AsyncIterator[tuple[int, dict, dict]]:
    """Yield (stream seq, stored event as written, origin) in stream order up to the stream's end."""
    nc = await connect(url)
    try:
        js = nc.jetstream(timeout=5.0)
        async for stream_seq, msg in scan(js, stream, start_seq, headers_only=False):
            yield stream_seq, msgspec.json.decode(msg.data), origin_of(msg, stream_seq)
    finally:
        await nc.close()


def as_draft(event: dict, origin: dict) -> NewEvent:
    extra = {k: v for k, v in event.items() if k not in _ENVELOPE and k != "seq"}
    extra[ORIGIN_FIELD] = origin
    return NewEvent(
        type=event["type"], source=event["source"], payload=event.get("payload", {}), id=event["id"],
        timestamp=event["timestamp"], stream=event.get("stream"), correlation_id=event.get("correlation_id"),
        causation_id=event.get("causation_id"), version=event.get("version", "1.0"), extra=extra,
    )


def prepare_mirror(view_dir: Path, url: str, stream: str) -> FileEventLog:
    """Open (or mark) a dedicated mirror directory; refuse a `.loki/` that has its own events."""
    view_dir = Path(view_dir)
    marker = mirror_marker(view_dir)
    log = FileEventLog(view_dir)
    if not marker.exists():
        if log.head_seq:
            raise BridgeError(f"{view_dir} already holds events of its own; mirror into a dedicated directory")
        marker.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(marker, msgspec.json.encode({"url": url, "stream": stream}))
    return log


def mirrored_position(log: FileEventLog) -> int:
    """The stream seq of the mirror's newest mirrored event (0 for none).

    Events a local subscriber recorded in the mirror (an outcome of a side effect) carry no
    origin; they are stepped over, newest first.
    """
    for seq in range(log.head_seq, 0, -1):
        event = log.get(seq)
        origin = event.extra.get(ORIGIN_FIELD) if event is not None else None
        if isinstance(origin, dict) and isinstance(origin.get("stream_seq"), int):
            return origin["stream_seq"]
    return 0


async def mirror(view_dir: Path, url: str, stream: str, batch: int = 1000) -> int:
    """Append the stream's events after the mirror's position; return how many were added."""
    log = prepare_mirror(view_dir, url, stream)
    start = 1 + mirrored_position(log)
    added, drafts = 0, []
    async for _, event, origin in events_from(url, stream, start):
        drafts.append(as_draft(event, origin))
        if len(drafts) >= batch:
            added += len(log.append_many(drafts))
            drafts = []
    if drafts:
        added += len(log.append_many(drafts))
    return added
