"""Approval webhooks against a real HTTP server on 127.0.0.1: signature, retries, timeouts."""
from __future__ import annotations

import http.server
import json
import socket
import threading
import time

import pytest

from commands.policy import approvals
from commands.policy.gate import PolicyGate
from commands.policy.model import WebhookSettings
from commands.policy.webhook import DELIVERY_HEADER, SIGNATURE_HEADER, notify, verify

SECRET = "s3cret-for-tests"


class _Receiver(http.server.ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins handler threads: no thread outlives a test

    def __init__(self, script: list) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script = list(script)
        self.received: list[tuple[dict, bytes]] = []
        self.release = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/approval"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - the http.server naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        server: _Receiver = self.server  # type: ignore[assignment]
        server.received.append((dict(self.headers), body))
        step = server.script.pop(0) if server.script else 200
        if step == "hang":
            server.release.wait(10)
            return
        self.send_response(step)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def receiver():
    servers = []

    def start(*script):
        server = _Receiver(list(script))
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        servers.append((server, thread))
        return server

    yield start
    for server, thread in servers:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


ENV = {"HOOK_SECRET": SECRET}


def test_a_signed_delivery(receiver):
    server = receiver(200)
    delivery = notify(WebhookSettings(server.url, "HOOK_SECRET"), {"approval_id": "apr-1"}, "evt-1", env=ENV)
    assert (delivery.delivered, delivery.attempts, delivery.status) == (True, 1, 200)
    ((headers, body),) = server.received
    assert json.loads(body) == {"approval_id": "apr-1"}
    assert headers[DELIVERY_HEADER] == "evt-1"
    assert verify(SECRET.encode(), body, headers[SIGNATURE_HEADER])
    assert not verify(b"wrong", body, headers[SIGNATURE_HEADER])


def test_server_errors_are_retried_with_the_same_delivery_id(receiver):
    server = receiver(500, 503, 200)
    delivery = notify(WebhookSettings(server.url, "HOOK_SECRET", retries=2), {"a": 1}, "evt-2", env=ENV, backoff=0.01)
    assert (delivery.delivered, delivery.attempts) == (True, 3)
    assert {h[DELIVERY_HEADER] for h, _ in server.received} == {"evt-2"}


def test_retries_are_bounded(receiver):
    server = receiver(500, 500, 500, 500)
    delivery = notify(WebhookSettings(server.url, None, retries=2), {"a": 1}, "evt", backoff=0.01)
    assert (delivery.delivered, delivery.attempts, delivery.status) == (False, 3, 500)
    assert SIGNATURE_HEADER not in server.received[0][0]  # no secret configured: unsigned


def test_a_client_error_is_not_retried(receiver):
    server = receiver(400)
    delivery = notify(WebhookSettings(server.url, "HOOK_SECRET", retries=3), {"a": 1}, "evt", env=ENV, backoff=0.01)
    assert (delivery.delivered, delivery.attempts, delivery.status) == (False, 1, 400)


def test_a_hanging_receiver_costs_at_most_the_timeout_per_attempt(receiver):
    server = receiver("hang", "hang")
    started = time.monotonic()
    delivery = notify(WebhookSettings(server.url, "HOOK_SECRET", timeout_seconds=0.3, retries=1), {"a": 1}, "evt",
                      env=ENV, backoff=0.01)
    assert time.monotonic() - started < 3
    assert (delivery.delivered, delivery.attempts) == (False, 2) and "timed out" in delivery.error


def test_an_unreachable_receiver():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    delivery = notify(WebhookSettings(f"http://127.0.0.1:{port}/", None, retries=1), {"a": 1}, "evt", backoff=0.01)
    assert (delivery.delivered, delivery.attempts) == (False, 2) and "ConnectionRefusedError" in delivery.error


def test_a_missing_secret_sends_nothing(receiver):
    server = receiver(200)
    delivery = notify(WebhookSettings(server.url, "HOOK_SECRET"), {"a": 1}, "evt", env={})
    assert (delivery.delivered, delivery.attempts) == (False, 0) and "HOOK_SECRET is not set" in delivery.error
    assert server.received == []


def test_the_gate_notifies_and_records_the_outcome(receiver, loki):
    server = receiver(200)
    loki.mkdir(parents=True)
    (loki / "policies.yaml").write_text(
        "policies:\n  pre_deployment:\n    - name: gates\n      rule: \"passed_gates must include e2e\"\n"
        "      action: require_approval\n"
        f"approvals:\n  timeout_seconds: 120\n  webhook:\n    url: {server.url}\n    secret_env: HOOK_SECRET\n")
    with PolicyGate(loki, env=ENV) as gate:
        result = gate.check("pre_deployment", {"passed_gates": ["unit"]})
        assert result.delivery.delivered
        ((headers, body),) = server.received
        sent = json.loads(body)
        assert (sent["approval_id"], sent["rule"], sent["timeout_seconds"]) == (result.approval_id, "gates", 120)
        assert verify(SECRET.encode(), body, headers[SIGNATURE_HEADER]) and headers[DELIVERY_HEADER] == sent["event_id"]
        events = list(gate.log.read())
        assert [f"{e.type}.{e.action}" for e in events] == ["policy.decision", "approval.requested", "approval.notified"]
        assert events[2].payload["delivered"] is True and events[2].causation_id == sent["event_id"]
        assert approvals.approvals(gate.log).approvals[result.approval_id].notified == "delivered"
