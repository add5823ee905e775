"""Replicate the local log into a JetStream stream, exactly once.

The cursor (`.loki/events/cursors/nats-<stream>.json`) holds the last local seq JetStream
acknowledged (all before it too) and a stream seq below which no unconfirmed event of ours can
sit. On every (re)start the bridge scans the stream after that stream seq, headers only, for
its own origin's seqs and counts those as acknowledged, so a retry later than the dedup window
cannot duplicate. Publishes are pipelined (subscribers/nats/pipeline.py); the cursor only moves over a
contiguous acked prefix.
"""
from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from eventlog import FileEventLog, LokiPaths
from eventlog.codec import encode_event
from eventlog.fsutil import atomic_write
from eventlog.retry import exponential

from .identity import BridgeError, is_mirror, origin_id
from .jetstream import FIRST_RETRY, connect, ensure_stream, scan
from .pipeline import AckPipeline, header_block
from .subjects import escape_token, subject_for

#: Acks outstanding before the bridge waits for half of them; ``CHUNK`` publishes go out per write.
IN_FLIGHT = 8000
CHUNK = 500
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
    chunk: int = CHUNK
    ack_timeout: float = ACK_TIMEOUT
    duplicate_window: float = 120.0
    published: int = 0
    skipped: int = 0
    passes: int = 0
    _found: dict[int, int] = field(default_factory=dict)
    _subjects: dict[str | None, str] = field(default_factory=dict)

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

    # ------------------------------------------------------------- sessions
    async def run_once(self) -> int:
        """Connect, recover, publish everything up to the head; return the cursor seq."""
        return await self.session()

    async def session(self, stop: asyncio.Event | None = None, wake: asyncio.Event | None = None,
                      poll: float = 0.5) -> int:
        """Connect and recover once, then publish up to the head; with ``stop``, again on every
        ``wake`` (or ``poll`` seconds) until it is set. Any failure ends the session."""
        nc = await connect(self.url)
        try:
            js = nc.jetstream(timeout=self.ack_timeout)
            await asyncio.wait_for(ensure_stream(js, self.stream, self.duplicate_window), self.ack_timeout)
            await asyncio.wait_for(self._recover(js, self.load_cursor()), 30.0)
            while True:
                if wake is not None:
                    wake.clear()  # before the pass: an append during it wakes the next one
                done = await self._publish(nc, self.load_cursor())
                self.passes += 1
                # Inside one healthy session every publish was acknowledged: no scan needed again.
                if stop is None or await _wait_any(stop, wake, poll):
                    return done
                if nc.is_closed or not nc.is_connected:
                    raise BridgeError(f"the connection to {self.url} closed")
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

    async def _publish(self, nc, cursor: BridgeCursor) -> int:
        """Publish everything after the cursor up to the head; commit over each acknowledged prefix."""
        head = self.log.head_seq
        if head <= cursor.seq:
            return cursor.seq
        pipe = await AckPipeline(nc, self.ack_timeout).open()
        self._done, self._acked_max = cursor.seq, cursor.stream_seq
        try:
            for batch in self.log.read_batches(cursor.seq + 1, head):
                for start in range(0, len(batch), self.chunk):
                    self._send(pipe, batch[start:start + self.chunk], head)
                    await pipe.flush()
                    if pipe.outstanding >= self.in_flight:
                        await pipe.wait_below(self.in_flight // 2)
                        self._advance(pipe)
            await pipe.wait_below(0)
        finally:
            self._advance(pipe)
            await pipe.close()
        return self._done

    def _send(self, pipe: AckPipeline, events, head: int) -> None:
        for event in events:
            seq = event.seq
            if seq > head:
                break
            if seq in self._found:  # stored by an earlier pass: acknowledged, whatever its ack said
                pipe.acked[seq] = self._found[seq]
                pipe.sent += 1
                pipe.received += 1
                self.skipped += 1
                continue
            subject = self._subjects.get(event.stream)
            if subject is None:
                subject = self._subjects[event.stream] = subject_for(self.project, event.stream)
            pipe.send(seq, subject, encode_event(event)[:-1], header_block(self._headers(event)))
            self.published += 1

    def _advance(self, pipe: AckPipeline) -> None:
        """Move the cursor over the contiguous acknowledged prefix and commit it."""
        done, acked_max, acked = self._done, self._acked_max, pipe.acked
        while done + 1 in acked:
            done += 1
            stream_seq = acked.pop(done)
            if stream_seq > acked_max:
                acked_max = stream_seq
        if done > self._done:
            self._done, self._acked_max = done, acked_max
            self._commit(BridgeCursor(done, self._safe_stream_seq(acked_max, done)))

    def _headers(self, event) -> dict[str, str]:
        return {"Nats-Msg-Id": event.id, "Loki-Type": event.type, "Loki-Origin-Host": self.host,
                "Loki-Origin-Id": self.origin, "Loki-Origin-Seq": str(event.seq)}


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event | None, timeout: float) -> bool:
    """Wait for ``stop`` or ``wake`` (at most ``timeout`` s); return whether stop is set."""
    waiters = [asyncio.ensure_future(stop.wait())]
    if wake is not None:
        waiters.append(asyncio.ensure_future(wake.wait()))
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    return stop.is_set()


async def run(bridge: Bridge, *, once: bool, poll: float = 0.5, stop: asyncio.Event | None = None,
              wake: asyncio.Event | None = None, backoff_max: float = 5.0, say=print) -> int:
    """Bridge until stopped (or one pass with ``once``), reconnecting with bounded backoff.

    ``wake`` (set when the log changes) starts the next pass at once instead of after ``poll``.
    """
    stop = stop or asyncio.Event()
    failures = 0
    while True:
        passes, done = bridge.passes, bridge.load_cursor().seq
        try:
            if once:
                await bridge.run_once()
            else:
                await bridge.session(stop, wake, poll)
            return 0
        except Exception as exc:  # unreachable, timeouts, a dropped connection, a server error reply
            if once:
                if isinstance(exc, BridgeError):
                    raise
                raise BridgeError(f"bridging to {bridge.url} failed: {exc.__class__.__name__} {exc}") from exc
            # The session worked for a while (a pass, or the cursor moved during a long catch-up):
            # a new failure, a new backoff, not the doubled one of the failures before it.
            if bridge.passes > passes or bridge.load_cursor().seq > done:
                failures = 0
            delay = exponential(failures, FIRST_RETRY, backoff_max)
            what = str(exc) if isinstance(exc, BridgeError) else f"{exc.__class__.__name__} {exc}"
            say(f"lokilog bridge: {what}; retrying in {delay:.1f}s")
        if await _wait_any(stop, None, delay):
            return 0
        failures += 1
