"""The core's stdlib HTTP client: any status is an answer, bodies are bounded, redirects never followed."""
from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from commands.http_client import HttpRequestError, post_json, request


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - the http.server API
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.path, self.headers["Content-Type"], body))
        if self.path == "/moved":
            self.send_response(307)
            self.send_header("Location", "/elsewhere")
            self.end_headers()
            return
        self.send_response(201 if self.path.startswith("/ok") else 503)
        answer = b"x" * 5000
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.received = []
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield httpd, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_post_json_sends_json_and_reads_a_bounded_body(server):
    httpd, base = server
    answer = post_json(base + "/ok?a=1", {"k": [1, 2]}, timeout=5, max_body=100)
    assert answer.ok and answer.status == 201 and answer.body == b"x" * 100
    path, content_type, body = httpd.received[0]
    assert (path, content_type, json.loads(body)) == ("/ok?a=1", "application/json", {"k": [1, 2]})


def test_an_error_status_is_an_answer_and_a_redirect_is_not_followed(server):
    httpd, base = server
    assert post_json(base + "/fail", {}, timeout=5).status == 503
    moved = post_json(base + "/moved", {}, timeout=5)
    assert (moved.status, moved.ok) == (307, False)
    assert [p for p, _, _ in httpd.received] == ["/fail", "/moved"]


def test_an_unreachable_server_raises_naming_the_cause():
    with socket.socket() as probe:  # a port nobody listens on: bound, then closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(HttpRequestError, match="ConnectionRefusedError") as caught:
        request("GET", f"http://127.0.0.1:{port}/", timeout=2)
    assert caught.value.kind == "ConnectionRefusedError"
