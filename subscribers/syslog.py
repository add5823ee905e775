"""Forwarding audit entries to syslog (RFC 5424) over UDP or TCP, at least once, failing open.

Enabled by LOKI_AUDIT_SYSLOG_HOST (with _PORT, default 514, and _PROTO udp|tcp, default udp);
when unset this module is never imported. Each chain entry goes out as one message whose MSG is
the entry's JSON line and whose structured data carries the event seq, id and entry hash, so
the receiver holds an anchor of the chain outside the machine. The subscriber's cursor moves
only after a send succeeds; a dead server costs one bounded connect and the next run catches up.

Nothing is cut silently. Over TCP every entry goes whole. A UDP datagram holds at most
:data:`MAX_UDP_MESSAGE` bytes: a larger entry goes as its anchor only (seq, event id, hash and
size, no MSG), and an ``audit.syslog_oversize`` event in the log records which entry that was,
so the receiver can fetch it or the operator can switch to TCP. Resolving the host name is
bounded in time too (a dead DNS server must not stall the watch daemon).
"""
from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from eventlog import Event, EventLogError, InvalidEventError, parse_timestamp
from eventlog.events import format_timestamp
from projections.audit.entry import entry_decoder
from projections.audit.files import audit_dir, chain_files, iter_lines, sealed_first_seq
from projections.audit.settings import AuditSettings

NAME = "audit-syslog"
FACILITY_LOG_AUDIT = 13
SEVERITY_INFO = 6
MAX_UDP_MESSAGE = 65000


class SyslogUnavailable(EventLogError, OSError):
    """The syslog server could not be reached or the chain has not caught up: retry later."""


@dataclass(frozen=True)
class SyslogSettings:
    host: str
    port: int = 514
    proto: str = "udp"
    timeout: float = 2.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SyslogSettings | None:
        """Return the settings, or None when LOKI_AUDIT_SYSLOG_HOST is unset (forwarding off)."""
        env = os.environ if env is None else env
        host = env.get("LOKI_AUDIT_SYSLOG_HOST", "").strip()
        if not host:
            return None
        proto = env.get("LOKI_AUDIT_SYSLOG_PROTO", "udp").strip().lower() or "udp"
        if proto not in ("udp", "tcp"):
            raise InvalidEventError(f"LOKI_AUDIT_SYSLOG_PROTO={proto!r} must be udp or tcp")
        port_text = env.get("LOKI_AUDIT_SYSLOG_PORT", "514").strip() or "514"
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise InvalidEventError(f"LOKI_AUDIT_SYSLOG_PORT={port_text!r} is not a port number")
        return cls(host, int(port_text), proto)


def format_message(line: bytes, hostname: str, anchor_only: bool = False) -> bytes:
    """Format one chain entry as an RFC 5424 message (no framing); ``anchor_only`` leaves out MSG."""
    entry = entry_decoder.decode(line)
    pri = FACILITY_LOG_AUDIT * 8 + SEVERITY_INFO
    params = {"seq": str(entry.seq), "eventId": entry.event_id or "", "hash": entry.hash}
    if anchor_only:
        params["size"] = str(len(line))
    sd = "[lokilog@32473 " + " ".join(f'{k}="{_sd_escape(v)}"' for k, v in params.items()) + "]"
    header = f"<{pri}>1 {_timestamp(entry.timestamp)} {_token(hostname)} lokilog {os.getpid()} audit {sd}"
    if anchor_only:
        return header.encode()
    return header.encode() + b" \xef\xbb\xbf" + line


def _timestamp(text: str) -> str:
    # RFC 5424 allows at most 6 fractional digits and needs an offset; events may carry
    # nanoseconds or (legacy writers) no offset. NILVALUE when it cannot be read at all.
    try:
        return format_timestamp(parse_timestamp(text))
    except ValueError:
        return "-"


def _sd_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _token(text: str) -> str:
    # HOSTNAME is PRINTUSASCII without spaces, at most 255 characters (RFC 5424 section 6).
    cleaned = "".join(c for c in text if 33 <= ord(c) <= 126)[:255]
    return cleaned or "-"


class SyslogForwarder:
    """A subscriber that sends the chain entry of each audited event to syslog."""

    name = NAME

    def __init__(self, loki_dir: Path, settings: SyslogSettings, audit: AuditSettings | None = None) -> None:
        self.loki_dir = Path(loki_dir)
        self.settings = settings
        self.audit = audit or AuditSettings.from_env()
        self.hostname = socket.gethostname()
        self._entries: Iterator[tuple[int, bytes]] | None = None
        self._pending: tuple[int, bytes] | None = None
        self._sock: socket.socket | None = None
        self.sent = 0

    def handle(self, event: Event) -> None:
        if not self.audit.selection.audits(event):
            return
        line = self._entry_for(event.seq)
        if line is None:
            raise SyslogUnavailable(f"the audit chain has no entry for seq {event.seq} yet; run `lokilog audit sync`")
        message = format_message(line, self.hostname)
        if self.settings.proto == "udp" and len(message) > MAX_UDP_MESSAGE:
            self._send(format_message(line, self.hostname, anchor_only=True))
            self._record_oversize(event, len(message))
        else:
            self._send(message)
        self.sent += 1

    def _record_oversize(self, event: Event, size: int) -> None:
        from eventlog import FileEventLog

        with FileEventLog(self.loki_dir) as log:
            log.append("audit", "lokilog", {
                "action": "syslog_oversize", "seq": event.seq, "event_id": event.id, "bytes": size,
                "limit": MAX_UDP_MESSAGE, "sent": "anchor only (seq, event id, hash); use LOKI_AUDIT_SYSLOG_PROTO=tcp",
            }, id=f"syslog-oversize-{event.id}"[:200])

    def _entry_for(self, seq: int) -> bytes | None:
        if self._entries is None:
            self._entries = _entries_from(audit_dir(self.loki_dir), seq)
        while True:
            if self._pending is None:
                self._pending = next(self._entries, None)
                if self._pending is None:
                    self._entries = None  # re-list the files next time: the chain may have grown
                    return None
            entry_seq, line = self._pending
            if entry_seq > seq:
                return None
            self._pending = None
            if entry_seq == seq:
                return line

    def _send(self, message: bytes) -> None:
        try:
            if self.settings.proto == "udp":
                self._socket().send(message)
            else:
                # RFC 6587 octet counting: the length, a space, the message.
                self._socket().sendall(str(len(message)).encode() + b" " + message)
        except OSError as exc:
            self.close()
            raise SyslogUnavailable(f"syslog {self.settings.proto}://{self.settings.host}:{self.settings.port}: {exc}") from exc

    def _socket(self) -> socket.socket:
        if self._sock is None:
            kind = socket.SOCK_DGRAM if self.settings.proto == "udp" else socket.SOCK_STREAM
            family, kind, proto, _, address = resolve(self.settings.host, self.settings.port, kind,
                                                      self.settings.timeout)
            # A connected UDP socket reports ICMP "port unreachable" on a later send, so a
            # missing server stops the cursor instead of silently eating entries.
            sock = socket.socket(family, kind, proto)
            sock.settimeout(self.settings.timeout)
            try:
                sock.connect(address)
            except OSError:
                sock.close()
                raise
            self._sock = sock
        return self._sock

    def close(self) -> None:
        """Close the socket and the chain reader (a new handle() reopens them)."""
        if self._entries is not None:
            self._entries.close()
            self._entries, self._pending = None, None
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def resolve(host: str, port: int, kind: int, timeout: float) -> tuple:
    """getaddrinfo's first answer within ``timeout`` seconds (it has no timeout of its own)."""
    answer: list = []

    def lookup() -> None:
        try:
            answer.append(socket.getaddrinfo(host, port, type=kind)[0])
        except OSError as exc:
            answer.append(exc)

    worker = threading.Thread(target=lookup, name="lokilog-syslog-resolve", daemon=True)
    worker.start()
    worker.join(timeout)
    if not answer:
        raise socket.timeout(f"resolving {host!r} took longer than {timeout:g}s")
    if isinstance(answer[0], OSError):
        raise answer[0]
    return answer[0]


def _entries_from(directory: Path, seq: int) -> Iterator[tuple[int, bytes]]:
    files = chain_files(directory)
    # Skip sealed files that end before ``seq``: each file is named by its first entry's seq.
    starts = [sealed_first_seq(p) for p in files]
    first = 0
    for i, start in enumerate(starts):
        if start is not None and start <= seq:
            first = i
    for line in iter_lines(files[first:]):
        end = line.find(b",", 7)
        yield int(line[7:end]), line


@dataclass
class ForwardReport:
    sent: int
    error: str | None = None


def forward(loki_dir: Path, settings: SyslogSettings, audit: AuditSettings | None = None,
            limit: int | None = None) -> ForwardReport:
    """Send every entry after the cursor; never raises for a dead server (fail open)."""
    from subscribers.base import drain

    forwarder = SyslogForwarder(loki_dir, settings, audit)
    try:
        drain(loki_dir, forwarder, limit=limit)
        return ForwardReport(forwarder.sent)
    except SyslogUnavailable as exc:
        return ForwardReport(forwarder.sent, str(exc))
    finally:
        forwarder.close()
