"""Publishing with thousands of acknowledgements in flight and no future per message.

nats-py's `publish_async` costs a future, a token, a header dict validated key by key and a
dataclass per ack: in a profile of the bridge that per-message work, not the server, bounded the
rate. Here every message of a batch is one pre-built HPUB command handed to the client's own
write path (what `Client.publish` does after its checks; our subjects and header values are
valid by construction), the batch is flushed once, and acks arrive on one wildcard inbox whose
last token is the local seq. What was acknowledged is counted in a dict; the caller advances
over the contiguous acknowledged prefix.
"""
from __future__ import annotations

import asyncio

import msgspec

from .identity import BridgeError

_CRLF = b"\r\n"
#: Acknowledgements per second below which a full window counts as stalled.
MIN_ACK_RATE = 1000.0
#: The longest time without any acknowledgement while the server still answers pings.
STALL_LIMIT = 60.0


class _Error(msgspec.Struct):
    code: int = 0
    err_code: int = 0
    description: str = ""


class _Ack(msgspec.Struct):
    stream: str = ""
    seq: int = 0
    duplicate: bool = False
    error: _Error | None = None


_ack_decoder = msgspec.json.Decoder(_Ack)


def header_block(headers: dict[str, str]) -> bytes:
    """The NATS/1.0 header block for ``headers`` (values stripped of CR/LF, as nats-py does)."""
    lines = [b"NATS/1.0"]
    for key, value in headers.items():
        lines.append(f"{key}: {value.replace(chr(13), ' ').replace(chr(10), ' ').strip()}".encode())
    return _CRLF.join(lines) + _CRLF + _CRLF


class AckPipeline:
    """Send many publishes, then wait (bounded) for their acks; the stream seq of each by local seq."""

    def __init__(self, nc, ack_timeout: float) -> None:
        self.nc = nc
        self.ack_timeout = ack_timeout
        self.prefix = nc.new_inbox()
        self.acked: dict[int, int] = {}
        self.sent = 0
        self.received = 0
        self.error: str | None = None
        self._progress = asyncio.Event()
        self._sub = None
        self._pending: list[bytes] = []
        self._fast = hasattr(nc, "_send_command") and hasattr(nc, "_flush_pending")

    async def open(self) -> "AckPipeline":
        self._sub = await self.nc.subscribe(f"{self.prefix}.*", cb=self._on_ack, pending_msgs_limit=-1,
                                            pending_bytes_limit=-1)
        return self

    async def close(self) -> None:
        if self._sub is not None:
            try:
                await asyncio.wait_for(self._sub.unsubscribe(), 2.0)
            except Exception:
                pass

    @property
    def outstanding(self) -> int:
        return self.sent - self.received

    def send(self, seq: int, subject: str, body: bytes, headers: bytes) -> None:
        """Queue one publish (sent at the next :meth:`flush`); its ack is filed under ``seq``."""
        reply = f"{self.prefix}.{seq}"
        self._pending.append(b"HPUB %s %s %d %d\r\n%s%s\r\n" % (
            subject.encode(), reply.encode(), len(headers), len(headers) + len(body), headers, body))
        self.sent += 1

    async def flush(self) -> None:
        """Hand the queued publishes to the connection in one write."""
        if not self._pending:
            return
        if self.nc.is_closed or not self.nc.is_connected:
            raise BridgeError("the connection to NATS closed")
        data, self._pending = b"".join(self._pending), []
        if self._fast:
            try:  # bounded: the client's own flush waits on a flusher that may have died
                await asyncio.wait_for(self._write(data), self.ack_timeout)
            except asyncio.TimeoutError:
                raise BridgeError(f"could not hand publishes to NATS within {self.ack_timeout:.1f}s") from None
        else:  # a client without the private write path: the public one, message by message
            raise BridgeError("this nats-py lacks the write path the bridge needs; install nats-py>=2.7")

    async def _write(self, data: bytes) -> None:
        await self.nc._send_command(data)
        await self.nc._flush_pending()

    async def wait_below(self, limit: int) -> None:
        """Wait until at most ``limit`` acks are outstanding; each wait for progress is bounded.

        With `sync_interval: always` the server stores what is queued and then acknowledges it
        in a burst, so the first ack of a full window comes only after the window is stored:
        the bound grows with what is outstanding. The server's rate is shared by every bridge
        of the stream, so a silent bound is not yet a failure: if the server still answers a
        ping, it has read all we sent and is busy storing it, and we wait on (up to
        STALL_LIMIT). Failing there instead re-sent the same window on a new connection, on
        top of the old one still queued, and kept a loaded server behind for a minute.
        """
        stalled = 0.0
        while self.outstanding > limit:
            self._check()
            self._progress.clear()
            bound = max(self.ack_timeout, self.outstanding / MIN_ACK_RATE)
            try:
                await asyncio.wait_for(self._progress.wait(), bound)
                stalled = 0.0
            except asyncio.TimeoutError:
                self._check()
                stalled += bound
                if stalled >= STALL_LIMIT or not await self._alive():
                    raise BridgeError(f"no acknowledgement from JetStream within {stalled:.1f}s "
                                      f"({self.outstanding} outstanding)") from None
        self._check()

    async def _alive(self) -> bool:
        """Whether the server answers a ping within the ack timeout (a paused one does not)."""
        try:
            await self.nc.flush(timeout=self.ack_timeout)
        except Exception:
            return False
        return True

    def _check(self) -> None:
        if self.error is not None:
            raise BridgeError(f"JetStream refused a publish: {self.error}")
        if self.nc.is_closed or not self.nc.is_connected:
            raise BridgeError("the connection to NATS closed")

    async def _on_ack(self, msg) -> None:
        try:
            seq = int(msg.subject.rsplit(".", 1)[1])
        except ValueError:
            return
        if not msg.data:  # a status message: 503 no responders (no stream has the subject)
            status = (msg.headers or {}).get("Status", "?")
            self.error = self.error or f"status {status} for local seq {seq} (does the stream exist?)"
        else:
            try:
                ack = _ack_decoder.decode(msg.data)
            except msgspec.DecodeError as exc:
                self.error = self.error or f"unreadable ack for local seq {seq}: {exc}"
            else:
                if ack.error is not None:
                    self.error = self.error or f"{ack.error.description} (code {ack.error.err_code})"
                elif seq not in self.acked:
                    self.acked[seq] = ack.seq
                    self.received += 1
        self._progress.set()
