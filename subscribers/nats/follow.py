"""Follow a stream live into a mirror `.loki/`: the NATS half of `lokilog watch --from`.

The mirror's own log is the follower's durable position: each batch of stream messages is
appended in one `append_many`, and on every (re)start the position is read back from the
`loki_origin.stream_seq` of the mirror's newest event. The position and the events it covers
are therefore one write, never two, so a kill -9 at any point resumes without a gap and
without folding anything twice (the watch daemon folds the mirror's log as it grows).
"""
from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import urlparse

import msgspec
from nats.js.api import ConsumerConfig, DeliverPolicy

from eventlog.retry import exponential

from .identity import BridgeError
from .jetstream import FIRST_RETRY, check_url, connect
from .pull import as_draft, mirrored_position, origin_of, prepare_mirror
from .subjects import PREFIX

_log = logging.getLogger("lokilog.watch")
DEFAULT_STREAM = "LOKI"


def parse_source(url: str) -> tuple[str, str]:
    """Split ``nats://HOST:PORT[/STREAM]`` into the server URL and the stream (default LOKI)."""
    parts = urlparse(url)
    stream = parts.path.strip("/") or DEFAULT_STREAM
    if "/" in stream:
        raise BridgeError(f"{url!r}: give one stream name after the port, e.g. nats://HOST:PORT/LOKI")
    return check_url(f"{parts.scheme}://{parts.netloc}"), stream


@dataclass
class StreamFollower:
    """Append a stream's events to a mirror as they arrive, in stream order, exactly once."""

    view_dir: Path
    url: str
    stream: str = DEFAULT_STREAM
    batch: int = 2000
    idle: float = 1.0  # the longest wait for a message before checking for stop
    backoff_max: float = 5.0
    on_append: Callable[[int], None] | None = None
    appended: int = 0

    def __post_init__(self) -> None:
        self.log = prepare_mirror(Path(self.view_dir), self.url, self.stream)

    async def follow(self, stop: asyncio.Event) -> None:
        """Follow until ``stop`` is set; reconnect with bounded backoff after any failure."""
        failures = 0
        while not stop.is_set():
            delay = exponential(failures, FIRST_RETRY, self.backoff_max)
            try:
                await self._session(stop)
                failures, delay = 0, FIRST_RETRY
            except Exception as exc:  # unreachable, paused or restarted server: the log says where to resume
                _log.warning("following %s/%s: %s %s; retrying in %.1fs", self.url, self.stream,
                             exc.__class__.__name__, exc, delay)
            try:
                await asyncio.wait_for(stop.wait(), delay)
            except asyncio.TimeoutError:
                failures += 1

    async def _session(self, stop: asyncio.Event) -> None:
        nc = await connect(self.url)
        try:
            js = nc.jetstream(timeout=5.0)
            position = mirrored_position(self.log)
            config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=position + 1)
            # An ordered push consumer: the server sends as messages arrive (no fetch round
            # trip on the latency path) and the client restarts it at the right seq on a gap.
            sub = await js.subscribe(f"{PREFIX}.>", stream=self.stream, ordered_consumer=True, config=config,
                                     idle_heartbeat=2.0)
            try:
                while not stop.is_set():
                    position = self._append(await self._next_batch(sub, stop), position)
            finally:
                await asyncio.wait_for(sub.unsubscribe(), 2.0)
        finally:
            try:
                await asyncio.wait_for(nc.close(), 2.0)
            except Exception:
                pass

    async def _next_batch(self, sub, stop: asyncio.Event) -> list:
        while not stop.is_set():
            if nc_closed(sub):
                raise BridgeError("connection closed")
            try:
                msgs = [await sub.next_msg(timeout=self.idle)]
                break
            except asyncio.TimeoutError:
                continue
        else:
            return []
        while len(msgs) < self.batch and sub.pending_msgs:
            msgs.append(await sub.next_msg(timeout=self.idle))
        return msgs

    def _append(self, msgs: list, position: int) -> int:
        drafts = []
        for msg in msgs:
            stream_seq = msg.metadata.sequence.stream
            if stream_seq <= position:  # a redelivery after a consumer reset: already mirrored
                continue
            if stream_seq > position + 1:
                # The stream no longer holds these (retention, a deleted message): say so, once.
                _log.warning("stream %s: seqs %d..%d are gone from the stream; the view goes on without them",
                             self.stream, position + 1, stream_seq - 1)
            try:
                event = msgspec.json.decode(msg.data)
                drafts.append(as_draft(event, origin_of(msg, stream_seq)))
            except (msgspec.DecodeError, KeyError, TypeError, AttributeError) as exc:
                # Hold position rather than drop: a message we cannot read stops the mirror here.
                raise BridgeError(f"stream {self.stream} seq {stream_seq} is not a lokilog event: {exc}") from exc
            position = stream_seq
        if drafts:
            self.log.append_many(drafts)
            self.appended += len(drafts)
            if self.on_append is not None:
                self.on_append(len(drafts))
        return position


def nc_closed(sub) -> bool:
    conn = getattr(sub, "_conn", None)
    return bool(conn is not None and (conn.is_closed or not conn.is_connected))


class FollowerThread:
    """Run a StreamFollower on its own event loop beside the (threaded) watch daemon."""

    def __init__(self, follower: StreamFollower) -> None:
        self.follower = follower
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="lokilog-nats-follow", daemon=True)

    def start(self) -> "FollowerThread":
        self._thread.start()
        self._ready.wait(5.0)
        return self

    def _main(self) -> None:
        async def main() -> None:
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
            self._ready.set()
            await self.follower.follow(self._stop)

        asyncio.run(main())

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._stop.set)
            except RuntimeError:  # the loop already ended
                pass
        self._thread.join(timeout)
