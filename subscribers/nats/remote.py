"""Append straight to a stream, optionally conditional on the subject's version.

A stream's version in JetStream is the stream seq of the last message on its subject
(`loki.<project>.<stream>`, 0 when it has none): that is what `Nats-Expected-Last-Subject-Sequence`
checks atomically on the server, so a remote `expected_version` is that number, not the local
log's per-stream event count. Every publish, a bridge's included, moves it; a conditional append
therefore fails once anyone else wrote to the same stream, the EventStoreDB contract.
"""
from __future__ import annotations

import re
import socket
from dataclasses import dataclass

from nats.js.errors import APIError, NotFoundError

from eventlog import Event, NewEvent, SequenceConflictError
from eventlog.appends import complete, prepare
from eventlog.codec import encode_event

from .jetstream import connect, ensure_stream
from .subjects import subject_for

#: JetStream's error code for a failed expected-last-subject-sequence check.
WRONG_LAST_SEQUENCE = 10071
_ACTUAL = re.compile(r"wrong last sequence: (\d+)")
#: The origin id of events appended remotely (they have no `.loki/` and no local seq).
REMOTE_ORIGIN = "remote"


@dataclass(frozen=True)
class RemoteReceipt:
    id: str
    stream_seq: int
    duplicate: bool  # the id was already in the stream inside the dedup window


async def remote_version(js, stream: str, project: str, event_stream: str | None) -> int:
    """The stream seq of the last message on the event stream's subject (0 for none)."""
    try:
        msg = await js.get_last_msg(stream, subject_for(project, event_stream))
    except NotFoundError:
        return 0
    return msg.seq


def _event(draft: NewEvent) -> Event:
    prepare(draft)  # the same validation as a local append
    draft = complete(draft)
    return Event(seq=0, id=draft.id, type=draft.type, source=draft.source, timestamp=draft.timestamp,
                 version=draft.version, stream=draft.stream, correlation_id=draft.correlation_id,
                 causation_id=draft.causation_id, payload=dict(draft.payload), extra=dict(draft.extra))


async def append_remote(js, draft: NewEvent, *, project: str, stream: str = "LOKI",
                        origin: str = REMOTE_ORIGIN, timeout: float = 5.0) -> RemoteReceipt:
    """Publish one event; with ``draft.expected_version``, only if the subject is at that version.

    Raises SequenceConflictError (naming the subject's actual version) when it moved on.
    """
    event = _event(draft)
    headers = {"Nats-Msg-Id": event.id, "Loki-Type": event.type, "Loki-Origin-Host": socket.gethostname(),
               "Loki-Origin-Id": origin, "Loki-Origin-Seq": "0"}
    if draft.expected_version is not None:
        headers["Nats-Expected-Last-Subject-Sequence"] = str(draft.expected_version)
    try:
        ack = await js.publish(subject_for(project, event.stream), encode_event(event)[:-1],
                               timeout=timeout, stream=stream, headers=headers)
    except APIError as exc:
        if exc.err_code == WRONG_LAST_SEQUENCE:
            found = _ACTUAL.search(exc.description or "")
            raise SequenceConflictError(event.stream or "", draft.expected_version,
                                        int(found.group(1)) if found else -1) from exc
        raise
    return RemoteReceipt(event.id, ack.seq, bool(ack.duplicate))


async def append_to(url: str, draft: NewEvent, *, project: str, stream: str = "LOKI") -> RemoteReceipt:
    """Connect, make sure the stream exists, append one event, close (for one-off callers)."""
    nc = await connect(url)
    try:
        js = nc.jetstream(timeout=5.0)
        await ensure_stream(js, stream)
        return await append_remote(js, draft, project=project, stream=stream)
    finally:
        await nc.close()

