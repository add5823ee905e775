"""Replicate the local log into a JetStream stream, exactly once.

The cursor (`.loki/events/cursors/nats-<stream>.json`) holds the last local seq JetStream
acknowledged (all before it too) and a stream seq below which no unconfirmed event of ours can
sit. On every (re)start the bridge scans the stream after that stream seq, headers only, for
its own origin's seqs and counts those as acknowledged, so a retry later than the dedup window
cannot duplicate. Publishes are pipelined; the cursor only moves over a contiguous acked prefix.
"""
from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from eventlog import FileEventLog, LokiPaths
from eventlog.codec import encode_event
from eventlog.fsutil import atomic_write

from .identity import BridgeError, is_mirror, origin_id
from .jetstream import connect, ensure_stream, scan
from .subjects import escape_token, subject_for

IN_FLIGHT = 2000
ACK_TIMEOUT = 5.0


class BridgeCursor(msgspec.Struct):
    seq: int = 0
    stream_seq: int = 0


@dataclass
class Bridge:
    loki_dir: Path
    url: str
    stream: str = "LOKI"
    project: str | None = None
    in_flight: int = IN_FLIGHT
    ack_timeout: float = ACK_TIMEOUT
    duplicate_window: float = 120.0
    published: int = 0
    skipped: int = 0
    _found: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.loki_dir = Path(self.loki_dir)
        if is_mirror(self.loki_dir):
            raise BridgeError(f"{self.loki_dir} is a NATS mirror; bridging it would loop its events back")
        self.log = FileEventLog(self.loki_dir)
        self.origin = origin_id(self.loki_dir)
        self.host = socket.gethostname()
        self.project = self.project or self.loki_dir.resolve().parent.name or "default"
        self.cursor_path = LokiPaths(self.loki_dir).cursors / f"nats-{escape_token(self.stream)}.json"

    # ------------------------------------------------------------- cursor
    def load_cursor(self) -> BridgeCursor:
        try:
            return msgspec.json.decode(self.cursor_path.read_bytes(), type=BridgeCursor)
        except FileNotFoundError:
            return BridgeCursor()

    def _commit(self, cursor: BridgeCursor) -> None:
        self.cursor_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.cursor_path, msgspec.json.encode(cursor))

    # ------------------------------------------------------------- one pass
    async def run_once(self) -> int:
        """Connect, recover, publish everything up to the head; return the cursor seq."""
        nc = await connect(self.url)
        try:
            js = nc.jetstream(timeout=self.ack_timeout)
            await asyncio.wait_for(ensure_stream(js, self.stream, self.duplicate_window), self.ack_timeout)
            cursor = self.load_cursor()
            await asyncio.wait_for(self._recover(js, cursor), 30.0)
            return await self._publish(js, cursor)
        finally:
            try:
                await asyncio.wait_for(nc.close(), 2.0)
            except Exception:
                pass

    async def _recover(self, js, cursor: BridgeCursor) -> None:
        """Find our events stored after the cursor's stream seq (acked or not, they are in)."""
        self._found = {}
        async for stream_seq, msg in scan(js, self.stream, cursor.stream_seq + 1, headers_only=True,
                                          filter_subject=f"loki.{escape_token(self.project)}.>"):
            headers = msg.headers or {}
            if headers.get("Loki-Origin-Id") == self.origin:
                seq = int(headers["Loki-Origin-Seq"])
                if seq > cursor.seq:
                    self._found.setdefault(seq, stream_seq)

    def _safe_stream_seq(self, acked_max: int, seq: int) -> int:
        # Found events beyond the cursor were stored earlier than what this pass sends: the
        # recorded stream seq must stay below them so a later scan still sees them.
        later = [s for q, s in self._found.items() if q > seq]
        return min([acked_max] + [s - 1 for s in later])

    async def _publish(self, js, cursor: BridgeCursor) -> int:
        head = self.log.head_seq
        pending: list[tuple[int, asyncio.Future | int]] = []
        acked_max = cursor.stream_seq
        done = cursor.seq

        async def settle(keep: int) -> None:
            # One bounded wait for the oldest acks together; they are applied in seq order.
            nonlocal acked_max, done
            if len(pending) <= keep:
                return
            chunk = pending[:len(pending) - keep]
            futures = [item for _, item in chunk if not isinstance(item, int)]
            acks = iter(await asyncio.wait_for(asyncio.gather(*futures), self.ack_timeout) if futures else ())
            for seq, item in chunk:
                stream_seq = item if isinstance(item, int) else next(acks).seq
                acked_max = max(acked_max, stream_seq)
                done = seq
            del pending[:len(chunk)]

        if head <= cursor.seq:
            return done
        try:
            for batch in self.log.read_batches(cursor.seq + 1, head):
                for event in batch:
                    if event.seq > head:
                        break
                    if event.seq in self._found:
                        pending.append((event.seq, self._found[event.seq]))
                        self.skipped += 1
                        continue
                    future = await js.publish_async(
                        subject_for(self.project, event.stream), encode_event(event)[:-1],
                        headers=self._headers(event))  # in_flight stays under the client's 4000 pending slots: no stall
                    pending.append((event.seq, future))
                    self.published += 1
                    if len(pending) >= self.in_flight:
                        await settle(self.in_flight // 2)
                        self._commit(BridgeCursor(done, self._safe_stream_seq(acked_max, done)))
            await settle(0)
        finally:
            for _, item in pending:
                if not isinstance(item, int):
                    item.cancel()
            if done > cursor.seq:
                self._commit(BridgeCursor(done, self._safe_stream_seq(acked_max, done)))
        return done

    def _headers(self, event) -> dict[str, str]:
        return {"Nats-Msg-Id": event.id, "Loki-Type": event.type, "Loki-Origin-Host": self.host,
                "Loki-Origin-Id": self.origin, "Loki-Origin-Seq": str(event.seq)}


async def run(bridge: Bridge, *, once: bool, poll: float = 0.5, stop: asyncio.Event | None = None,
              backoff_max: float = 5.0, say=print) -> int:
    """Bridge until stopped (or one pass with ``once``), reconnecting with bounded backoff."""
    stop = stop or asyncio.Event()
    delay = 0.2
    while True:
        try:
            await bridge.run_once()
            delay = 0.2
            if once:
                return 0
        except BridgeError as exc:
            if once:
                raise
            say(f"lokilog bridge: {exc}; retrying in {delay:.1f}s")
        except Exception as exc:  # timeouts, a dropped connection, a server error reply
            if once:
                raise BridgeError(f"bridging to {bridge.url} failed: {exc.__class__.__name__} {exc}") from exc
            say(f"lokilog bridge: {exc.__class__.__name__} {exc}; retrying in {delay:.1f}s")
        else:
            delay = poll
        try:
            await asyncio.wait_for(stop.wait(), delay)
            return 0
        except asyncio.TimeoutError:
            pass
        delay = min(delay * 2, backoff_max) if delay != poll else poll
