"""Connecting to NATS with bounded waits, and the stream the bridge requires."""
from __future__ import annotations

import asyncio
from urllib.parse import urlparse

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig

from .identity import BridgeError
from .subjects import PREFIX

#: Default dedup window. It must exceed the longest time a publish may stay in flight (ack
#: timeout plus reconnect backoff); the bridge's own scan covers retries later than that.
DUPLICATE_WINDOW = 120.0
CONNECT_TIMEOUT = 2.0
FLUSH_TIMEOUT = 5.0
PENDING_BYTES = 8 * 1024 * 1024
#: The first wait before reconnecting (bridge and follower); it doubles per failure in a row.
FIRST_RETRY = 0.2


def check_url(url: str) -> str:
    parts = urlparse(url)
    if parts.scheme != "nats" or not parts.hostname or not parts.port:
        raise BridgeError(f"{url!r} is not a nats://HOST:PORT URL")
    return url


async def connect(url: str, timeout: float = CONNECT_TIMEOUT):
    """One connection attempt, bounded; no automatic reconnect (a reconnect would re-send
    buffered publishes after the bridge re-scanned the stream)."""
    try:
        return await asyncio.wait_for(nats.connect(
            check_url(url), connect_timeout=timeout, allow_reconnect=False, max_reconnect_attempts=0,
            # A forced flush (the client's buffer full) waits at most this long: without it,
            # a flusher that died with the connection leaves the writer waiting forever.
            flush_timeout=FLUSH_TIMEOUT, pending_size=PENDING_BYTES,
            error_cb=_quiet, disconnected_cb=_quiet_event, closed_cb=_quiet_event,
        ), timeout + 1)
    except BridgeError:
        raise
    except Exception as exc:
        raise BridgeError(f"cannot reach NATS at {url}: {exc.__class__.__name__} {exc}".strip()) from exc


async def _quiet(_exc) -> None:
    # Failures surface as exceptions of the calls that hit them; the default logs tracebacks.
    return None


async def _quiet_event() -> None:
    return None


async def ensure_stream(js, name: str, duplicate_window: float = DUPLICATE_WINDOW, timeout: float = 5.0):
    """Return the stream's info, creating it (file storage, subjects `loki.>`) if missing."""
    try:
        return await js.stream_info(name)
    except nats.js.errors.NotFoundError:
        return await js.add_stream(StreamConfig(
            name=name, subjects=[f"{PREFIX}.>"], storage=StorageType.FILE,
            duplicate_window=duplicate_window,
        ))


async def scan(js, stream: str, start_seq: int, *, headers_only: bool, filter_subject: str | None = None,
               batch: int = 1000, timeout: float = 5.0):
    """Yield the stream's messages from ``start_seq`` up to its last seq at the time of the call."""
    try:
        info = await js.stream_info(stream)
    except nats.js.errors.NotFoundError as exc:
        raise BridgeError(f"stream {stream} does not exist on this server") from exc
    last = info.state.last_seq
    if last < start_seq:
        return
    config = ConsumerConfig(
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=max(start_seq, 1),
        headers_only=headers_only, filter_subject=filter_subject, inactive_threshold=30.0,
        # No acks: an explicit-ack consumer stops delivering at max_ack_pending.
        ack_policy=AckPolicy.NONE,
    )
    sub = await js.pull_subscribe(
        filter_subject or f"{PREFIX}.>", durable=None, stream=stream, config=config)
    try:
        if (await sub.consumer_info()).num_pending == 0:
            return
        for _ in range(last + 2):  # bounded: each round yields at least one message or stops
            try:
                msgs = await sub.fetch(batch, timeout=timeout)
            except nats.errors.TimeoutError:
                raise BridgeError(f"stream {stream}: scan stalled before seq {last}") from None
            for msg in msgs:
                seq = msg.metadata.sequence.stream
                yield seq, msg
                # num_pending counts what matches the filter after this message, as of now.
                if seq >= last or msg.metadata.num_pending == 0:
                    return
    finally:
        try:
            await sub.unsubscribe()
        except Exception:
            pass
