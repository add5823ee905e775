"""`/api/events`: replay with cursor pagination, the SSE live tail, and emit for remote clients."""
from __future__ import annotations

from itertools import islice
from typing import Annotated, Optional

import anyio
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import Response
from sse_starlette import EventSourceResponse, ServerSentEvent

from eventlog import EventFilter, InvalidEventError

from .auth import Principal, require
from .context import open_log
from .errors import ApiError
from .schemas import EmitRequest, EventPage, ReceiptOut
from .tail import encode, encode_many

router = APIRouter(tags=["events"])


def _filter(type: list[str] | None, source: list[str] | None, stream: list[str] | None,
            since: str | None, until: str | None, where: list[str] | None) -> EventFilter:
    return EventFilter.build(type or (), source or (), stream or (), since, until, where or ())


class JSONBytes(Response):
    media_type = "application/json"


@router.get("/api/events", response_model=EventPage, summary="Replay stored events, filtered, a page at a time")
def list_events(
    request: Request,
    _: Principal = Depends(require("read")),
    type: Annotated[Optional[list[str]], Query(description="Only these types (repeatable).")] = None,
    source: Annotated[Optional[list[str]], Query(description="Only these sources (repeatable).")] = None,
    stream: Annotated[Optional[list[str]], Query(description="Only these streams (repeatable).")] = None,
    where: Annotated[Optional[list[str]], Query(description="FIELD=VALUE or FIELD!=VALUE, e.g. payload.task_id=t1.")] = None,
    since: Annotated[Optional[str], Query(description="Only events at or after this RFC 3339 time.")] = None,
    until: Annotated[Optional[str], Query(description="Only events at or before this RFC 3339 time.")] = None,
    from_seq: Annotated[int, Query(ge=1, description="First seq to read.")] = 1,
    to_seq: Annotated[Optional[int], Query(ge=1, description="Last seq to read.")] = None,
    cursor: Annotated[Optional[int], Query(ge=0, description="Continue after this seq (a page's next_cursor).")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Events per page.")] = 100,
):
    """Events in seq order. A page ends at `limit` events; `next_cursor` continues after it."""
    selection = _filter(type, source, stream, since, until, where)
    start = max(from_seq, (cursor or 0) + 1)
    with open_log(request) as log:
        head = log.head_seq
        if to_seq is not None and to_seq < start:
            return JSONBytes(_page([], None, head))
        found = list(islice(log.read(start, to_seq, filter=selection), limit + 1))
    more = len(found) > limit
    found = found[:limit]
    next_cursor = found[-1].seq if more else None
    return JSONBytes(_page(found, next_cursor, max(head, found[-1].seq if found else 0)))


def _page(events, next_cursor, head) -> bytes:
    # The events are encoded as stored, in one call: no model round trip for a 1 000-event page.
    cursor = b"null" if next_cursor is None else str(next_cursor).encode()
    return b'{"events":' + encode_many(events) + b',"next_cursor":' + cursor + b',"head_seq":' + str(head).encode() + b"}"


@router.get(
    "/api/events/stream", summary="Live tail (Server-Sent Events)",
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
                     "description": "`id:` is the event's seq, `event: event`, `data:` the event as JSON."}},
)
async def stream_events(
    request: Request,
    _: Principal = Depends(require("read")),
    type: Annotated[Optional[list[str]], Query()] = None,
    source: Annotated[Optional[list[str]], Query()] = None,
    stream: Annotated[Optional[list[str]], Query()] = None,
    where: Annotated[Optional[list[str]], Query()] = None,
    from_seq: Annotated[Optional[int], Query(ge=1, description="Start at this seq (default: new events only).")] = None,
    last_event_id: Annotated[Optional[str], Header(description="Resume after this seq (set by EventSource on reconnect).")] = None,
):
    """New events as they are appended; with `Last-Event-ID: N` every event after seq N first."""
    selection = _filter(type, source, stream, None, None, where)
    tail = request.app.state.tail
    if last_event_id is not None:
        if not last_event_id.strip().isdigit():
            raise InvalidEventError(f"Last-Event-ID {last_event_id!r} is not a seq")
        after = int(last_event_id)
    else:
        after = from_seq - 1 if from_seq else tail.position
    sub = tail.subscribe(selection)
    settings = request.app.state.settings

    async def events():
        nonlocal after
        try:
            while after < sub.started_at:
                chunk = await anyio.to_thread.run_sync(tail.history, after, sub.started_at, selection)
                if not chunk:
                    break
                for event in chunk:
                    after = event.seq
                    if selection.matches(event):
                        yield ServerSentEvent(encode(event), event="event", id=str(event.seq), sep="\n")
            while True:
                item = await sub.queue.get()
                if item is None:
                    return  # too far behind: the client reconnects from its Last-Event-ID
                seq, event, data = item
                if seq <= after:
                    continue
                after = seq
                if selection.matches(event):
                    yield ServerSentEvent(data, event="event", id=str(seq), sep="\n")
        finally:
            tail.unsubscribe(sub)

    return EventSourceResponse(events(), ping=settings.sse_ping, sep="\n", shutdown_event=request.app.state.shutdown,
                               headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.post("/api/events", response_model=ReceiptOut, summary="Append one event (control scope)")
def emit_event(body: EmitRequest, request: Request, principal: Principal = Depends(require("control"))):
    """Append an event. An `id` already stored returns its seq (`duplicate`); `expected_version`
    with `stream` answers 409 when the stream has moved on."""
    if body.expected_version is not None and body.stream is None:
        raise ApiError(400, "bad_request", "expected_version needs a stream")
    with open_log(request) as log:
        receipt = log.append(
            body.type, body.source, body.payload, id=body.id, stream=body.stream,
            expected_version=body.expected_version, correlation_id=body.correlation_id,
            causation_id=body.causation_id, timestamp=body.timestamp,
        )
    return ReceiptOut(id=receipt.id, seq=receipt.seq, status=receipt.status,
                      stream_version=receipt.stream_version, pending_file=receipt.pending_file)
