"""Hostile peers on the network: a slow client or server delays nobody and nothing for long."""
from __future__ import annotations

import http.client
import http.server
import socket
import threading
import time

import pytest

from eventlog import FileEventLog
from subscribers.trackers.webhooks import WebhookReceiver, WebhookServer

from test_webhooks import SECRETS, github_delivery


@pytest.fixture
def server(loki):
    with FileEventLog(loki) as log:
        server = WebhookServer(WebhookReceiver(log, SECRETS), request_deadline=1.5)
        worker = threading.Thread(target=server.serve, daemon=True)
        worker.start()
        try:
            yield server
        finally:
            server.stop()
            worker.join(5)
            server.server_close()


def _trickle(port: int, stop: threading.Event, closed: list) -> None:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        sock.sendall(b"POST /webhooks/github HTTP/1.1\r\n")
        deadline = time.monotonic() + 8
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                sock.sendall(b"X")  # one byte of a header that never ends
            except OSError:
                break
            sock.settimeout(0.3)
            try:
                if sock.recv(1024) == b"":
                    break
            except socket.timeout:
                continue
            except OSError:
                break
        closed.append(time.monotonic())
    finally:
        sock.close()


def test_a_client_sending_a_byte_at_a_time_delays_no_other_delivery(server):
    port = server.server_address[1]
    stop, closed = threading.Event(), []
    started = time.monotonic()
    slow = threading.Thread(target=_trickle, args=(port, stop, closed))
    slow.start()
    try:
        time.sleep(0.3)
        body, headers = github_delivery()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
        try:
            connection.request("POST", "/webhooks/github", body=body, headers=headers)
            assert connection.getresponse().status == 202
        finally:
            connection.close()
        assert time.monotonic() - started < 1.4  # answered while the slow client still dribbles
        slow.join(6)
    finally:
        stop.set()
        slow.join(5)
    assert closed and closed[0] - started < 3.5  # cut at the whole-request deadline (1.5 s)
    assert server.handled == 1


def test_headers_are_bounded(server):
    from subscribers.trackers.webhooks import MAX_HEADER_BYTES

    sock = socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=5)
    try:
        sock.sendall(b"POST /webhooks/github HTTP/1.1\r\n")
        line = b"X-Pad: " + b"a" * 1000 + b"\r\n"
        try:
            for _ in range(MAX_HEADER_BYTES // len(line) + 2):
                sock.sendall(line)
        except OSError:
            pass  # the server may stop reading (and reset) once over the bound
        answer = sock.recv(200)
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.0 431") or answer.startswith(b"HTTP/1.1 431")


# ------------------------------------------------------------------------- tracker HTTP

ANSWER = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'


@pytest.fixture
def trickling_server():
    """A server that answers one byte every 0.2 s: every read succeeds, the whole takes ~20 s."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(65536)
                    for byte in ANSWER:
                        if stop.wait(0.2):
                            return
                        conn.sendall(bytes([byte]))
                except OSError:
                    continue

    worker = threading.Thread(target=serve, daemon=True)
    worker.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    worker.join(5)
    listener.close()


def test_a_tracker_call_has_a_deadline_for_the_whole_answer(trickling_server):
    from subscribers.trackers.errors import TransientError
    from subscribers.trackers.http import HttpClient

    client = HttpClient(trickling_server, {"Authorization": "token t0ken"}, timeout=1.0, max_bytes=65536)
    started = time.monotonic()
    try:
        with pytest.raises(TransientError, match="within 1s"):
            client.request("GET", "/repos/acme/app/issues/1")
    finally:
        client.close()
    assert time.monotonic() - started < 2.5


@pytest.mark.parametrize("url,ok", [
    ("http://tracker.example.com", False), ("http://10.0.0.8:8080", False), ("https://tracker.example.com", True),
    ("http://127.0.0.1:9999", True), ("http://localhost:8080/jira", True), ("http://[::1]:8080", True),
])
def test_a_token_travels_in_clear_only_to_this_machine(url, ok):
    from subscribers.trackers.config import parse_trackers
    from subscribers.trackers.errors import TrackerConfigError

    for name in ("jira", "linear", "github"):
        if ok:
            assert parse_trackers({name: {"base_url": url}})[name].base_url == url
        else:
            with pytest.raises(TrackerConfigError, match="https://"):
                parse_trackers({name: {"base_url": url}})
