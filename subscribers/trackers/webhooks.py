"""Inbound webhooks from Jira, Linear and GitHub become `tracker.webhook_received` events.

Every delivery must carry a valid HMAC-SHA256 signature of its raw body made with the shared
secret (GitHub `X-Hub-Signature-256: sha256=<hex>`, Jira `X-Hub-Signature: sha256=<hex>`,
Linear `Linear-Signature: <hex>`); a tracker without a configured secret accepts nothing
(fail closed). Replays are refused twice over: a delivery's event id derives from its delivery
id (or its body), so the same delivery is stored once, and Linear and Jira deliveries whose
own timestamp is too far from now are rejected. Only a few fields of the untrusted payload are
kept, cleaned and bounded.
"""
from __future__ import annotations

import hashlib
import hmac
import http.client
import http.server
import socket
import socketserver
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import msgspec

from eventlog import DuplicateIdError, FileEventLog
from projections.trackers import valid_target

from .text import clean_text

MAX_BODY = 1024 * 1024
#: Request line plus headers: GitHub's deliveries send about 1.5 KB of them.
MAX_HEADER_BYTES = 32 * 1024
#: The most seconds one request (headers and body) may take, however it trickles in.
REQUEST_DEADLINE = 10.0
#: Connections served at once; more are closed immediately.
MAX_CLIENTS = 32
TOLERANCE_SECONDS = 300.0
SIGNATURE_HEADERS = {"github": "X-Hub-Signature-256", "jira": "X-Hub-Signature", "linear": "Linear-Signature"}
DELIVERY_HEADERS = {"github": "X-GitHub-Delivery", "jira": "X-Atlassian-Webhook-Identifier", "linear": "Linear-Delivery"}


@dataclass(frozen=True)
class Verdict:
    """What to answer a delivery: an HTTP status and a short reason."""

    status: int
    reason: str
    event_id: str | None = None


def sign(secret: str, body: bytes) -> str:
    """Return the hex HMAC-SHA256 of ``body`` under ``secret``."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_ok(tracker: str, secret: str, body: bytes, headers: Mapping[str, str]) -> bool:
    """Check a delivery's signature header in constant time."""
    given = _header(headers, SIGNATURE_HEADERS[tracker]) or ""
    if tracker != "linear":
        if not given.startswith("sha256="):
            return False
        given = given[len("sha256="):]
    return hmac.compare_digest(given.strip().lower(), sign(secret, body))


def fresh(tracker: str, document: dict, now: float, tolerance: float = TOLERANCE_SECONDS) -> bool:
    """True unless the delivery's own timestamp (milliseconds) is too far from ``now``."""
    field = {"linear": "webhookTimestamp", "jira": "timestamp"}.get(tracker)
    stamp = document.get(field) if field else None
    if field is None:
        return True  # GitHub sends none: its delivery id alone guards against replays
    if isinstance(stamp, bool) or not isinstance(stamp, (int, float)):
        return False
    return abs(now - stamp / 1000.0) <= tolerance


def delivery_id(tracker: str, body: bytes, headers: Mapping[str, str]) -> str:
    """The event id of a delivery: from its delivery id, else from its body."""
    given = _header(headers, DELIVERY_HEADERS[tracker]) or hashlib.sha256(body).hexdigest()
    return f"webhook-{tracker}-" + hashlib.sha256(given.encode()).hexdigest()[:32]


def summarize(tracker: str, document: dict, headers: Mapping[str, str]) -> dict[str, Any]:
    """Pick the few fields lokilog keeps from an untrusted delivery, cleaned and bounded."""
    picked = _PICKERS[tracker](document, headers)
    out = {"action": "webhook_received", "tracker": tracker}
    for key, value in picked.items():
        if isinstance(value, str) and value:
            out[key] = clean_text(value, 200)
    if not valid_target(tracker, out.get("ref")):
        out.pop("ref", None)
    return out


def _github(doc: dict, headers: Mapping[str, str]) -> dict[str, Any]:
    repo = (doc.get("repository") or {}).get("full_name")
    item = doc.get("issue") or doc.get("pull_request") or {}
    number = item.get("number")
    kind = _header(headers, "X-GitHub-Event") or ""
    return {"event": f"{kind}.{doc['action']}" if isinstance(doc.get("action"), str) else kind,
            "ref": f"{repo}#{number}" if repo and isinstance(number, int) else None,
            "status": item.get("state"), "actor": (doc.get("sender") or {}).get("login")}


def _linear(doc: dict, headers: Mapping[str, str]) -> dict[str, Any]:
    data = doc.get("data") or {}
    return {"event": f"{doc.get('type')}.{doc.get('action')}", "ref": data.get("id"),
            "status": (data.get("state") or {}).get("name"), "identifier": data.get("identifier")}


def _jira(doc: dict, headers: Mapping[str, str]) -> dict[str, Any]:
    issue = doc.get("issue") or {}
    return {"event": doc.get("webhookEvent"), "ref": issue.get("key"),
            "status": ((issue.get("fields") or {}).get("status") or {}).get("name"),
            "actor": (doc.get("user") or {}).get("displayName")}


_PICKERS: dict[str, Callable[[dict, Mapping[str, str]], dict]] = {
    "github": _github, "linear": _linear, "jira": _jira,
}


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


class WebhookReceiver:
    """Turns verified deliveries into events in one log. Thread-compatible, no I/O but the log."""

    def __init__(self, log: FileEventLog, secrets: Mapping[str, str | None],
                 clock: Callable[[], float] = time.time, tolerance: float = TOLERANCE_SECONDS) -> None:
        self.log = log
        self.secrets = dict(secrets)
        self.clock = clock
        self.tolerance = tolerance

    def receive(self, tracker: str, body: bytes, headers: Mapping[str, str]) -> Verdict:
        """Verify one delivery and store it; return what to answer."""
        if tracker not in SIGNATURE_HEADERS:
            return Verdict(404, "unknown tracker")
        secret = self.secrets.get(tracker)
        if not secret:
            return Verdict(503, f"{tracker} webhooks are not configured")
        if not signature_ok(tracker, secret, body, headers):
            return Verdict(401, "bad signature")
        try:
            document = msgspec.json.decode(body)
        except msgspec.DecodeError:
            return Verdict(400, "body is not JSON")
        if not isinstance(document, dict):
            return Verdict(400, "body is not a JSON object")
        if not fresh(tracker, document, self.clock(), self.tolerance):
            return Verdict(400, "stale or missing timestamp (replay?)")
        event_id = delivery_id(tracker, body, headers)
        payload = summarize(tracker, document, headers)
        payload["delivery"] = event_id
        try:
            receipt = self.log.append("tracker", "webhook", payload, id=event_id)
        except DuplicateIdError:
            return Verdict(409, "delivery id reused for a different body", event_id)
        if receipt.status == "duplicate":
            return Verdict(200, "duplicate delivery: already stored", event_id)
        return Verdict(202, "accepted", event_id)


class _HeaderBudget:
    """The request's reader: at most ``budget`` bytes of request line and headers, then the body."""

    def __init__(self, raw, budget: int) -> None:
        self._raw = raw
        self.budget = budget

    def readline(self, limit: int = -1) -> bytes:
        if self.budget <= 0:
            raise http.client.LineTooLong(f"request headers over {MAX_HEADER_BYTES} bytes")
        cap = self.budget if limit < 0 else min(limit, self.budget)
        line = self._raw.readline(cap)
        self.budget -= len(line)
        return line

    def read(self, n: int = -1) -> bytes:
        return self._raw.read(n)

    def close(self) -> None:
        self._raw.close()


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "lokilog-webhooks"
    timeout = 5  # one silent read; the whole request has its own deadline (see setup)

    def setup(self) -> None:
        super().setup()
        self.rfile = _HeaderBudget(self.rfile, MAX_HEADER_BYTES)
        # A client that sends a byte every few seconds never trips the per-read timeout: a
        # timer shuts the socket down when the whole request has taken too long.
        self._deadline = threading.Timer(self.server.request_deadline, self._expire)
        self._deadline.daemon = True
        self._deadline.start()

    def _expire(self) -> None:
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed

    def finish(self) -> None:
        self._deadline.cancel()
        try:
            super().finish()
        except OSError:
            pass

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        prefix = "/webhooks/"
        if not self.path.startswith(prefix):
            return self._answer(Verdict(404, "not found"))
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            return self._answer(Verdict(411, "Content-Length required"))
        if length < 0 or length > MAX_BODY:
            return self._answer(Verdict(413, "body too large"))
        body = self.rfile.read(length)
        if len(body) != length:
            self.close_connection = True
            return  # cut off (the deadline, or the client gave up): nothing to answer
        with self.server.receive_lock:  # the log is appended to by one request at a time
            verdict = self.server.receiver.receive(self.path[len(prefix):].strip("/"), body, dict(self.headers))
            self.server.handled += 1
        self._answer(verdict)

    def _answer(self, verdict: Verdict) -> None:
        data = msgspec.json.encode({"status": verdict.reason})
        self.send_response(verdict.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # no access log on stderr: the events are the record


class WebhookServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    """A bounded webhook endpoint: POST /webhooks/{jira,linear,github}.

    Each connection has its own thread, at most ``max_clients`` at once (more are closed at
    once), and each request a whole-request deadline, so a slow client delays nobody else.
    """

    daemon_threads = True

    def __init__(self, receiver: WebhookReceiver, host: str = "127.0.0.1", port: int = 0, *,
                 request_deadline: float = REQUEST_DEADLINE, max_clients: int = MAX_CLIENTS) -> None:
        super().__init__((host, port), _Handler)
        self.receiver = receiver
        self.handled = 0
        self.timeout = 0.2
        self.request_deadline = request_deadline
        self.receive_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_clients)
        self._stop = threading.Event()

    def process_request(self, request, client_address) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)  # full: refuse fast rather than queue behind slow clients
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request, client_address) -> None:
        pass  # a client that hung up mid-answer is not our failure

    def serve(self, max_requests: int | None = None, duration: float | None = None) -> int:
        """Serve until stop(), ``max_requests`` handled or ``duration`` seconds; return the count."""
        deadline = None if duration is None else time.monotonic() + duration
        while not self._stop.is_set():
            if max_requests is not None and self.handled >= max_requests:
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
            self.handle_request()
        return self.handled

    def stop(self) -> None:
        self._stop.set()


__all__ = ["Verdict", "WebhookReceiver", "WebhookServer", "delivery_id", "fresh", "sign", "signature_ok", "summarize"]
