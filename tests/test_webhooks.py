"""Inbound webhooks: signatures, replay protection, untrusted payloads, a real bounded server."""
from __future__ import annotations

import http.client
import subprocess
import sys
import threading
import time
from pathlib import Path

import msgspec
import pytest

from conftest import read_line, subprocess_env
from eventlog import FileEventLog
from projections.engine import catch_up
from projections.trackers import TrackerProjection
from subscribers.trackers.webhooks import WebhookReceiver, WebhookServer, sign

SECRETS = {"github": "gh-hook-secret", "linear": "lin-hook-secret", "jira": "jira-hook-secret"}
NOW = 1_771_668_000.0


def github_delivery(number: int = 7, delivery: str = "d-1", state: str = "closed"):
    body = msgspec.json.encode({"action": "closed", "issue": {"number": number, "state": state, "title": "x"},
                                "repository": {"full_name": "acme/app"}, "sender": {"login": "octocat"}})
    headers = {"X-GitHub-Event": "issues", "X-GitHub-Delivery": delivery,
               "X-Hub-Signature-256": "sha256=" + sign(SECRETS["github"], body)}
    return body, headers


def linear_delivery(ts: float = NOW):
    body = msgspec.json.encode({"action": "update", "type": "Issue", "webhookTimestamp": int(ts * 1000),
                                "data": {"id": "lin-1", "identifier": "ENG-1", "state": {"name": "Done"}}})
    return body, {"Linear-Signature": sign(SECRETS["linear"], body), "Linear-Delivery": "ld-1"}


def jira_delivery(ts: float = NOW, status: str = "Done\u202e<!-- forged -->"):
    body = msgspec.json.encode({"webhookEvent": "jira:issue_updated", "timestamp": int(ts * 1000),
                                "issue": {"key": "PROJ-1", "fields": {"status": {"name": status}}}})
    return body, {"X-Hub-Signature": "sha256=" + sign(SECRETS["jira"], body),
                  "X-Atlassian-Webhook-Identifier": "j-1"}


@pytest.fixture
def receiver(log):
    return WebhookReceiver(log, SECRETS, clock=lambda: NOW)


def test_valid_deliveries_become_events(receiver, log, loki: Path):
    for tracker, (body, headers) in (("github", github_delivery()), ("linear", linear_delivery()),
                                     ("jira", jira_delivery())):
        assert receiver.receive(tracker, body, headers).status == 202
    events = [e.payload for e in log.read()]
    assert events[0]["ref"] == "acme/app#7" and events[0]["event"] == "issues.closed"
    assert events[1]["ref"] == "lin-1" and events[1]["status"] == "Done"
    assert events[2]["ref"] == "PROJ-1" and "<!--" not in events[2]["status"] and "\u202e" not in events[2]["status"]
    state = catch_up(loki, TrackerProjection(), write_views=False).state
    assert state.webhooks == 3 and state.remote["jira:PROJ-1"]["event"] == "jira:issue_updated"


@pytest.mark.parametrize("tracker", ["github", "linear", "jira"])
def test_forgeries_are_rejected(receiver, log, tracker: str):
    body, headers = {"github": github_delivery, "linear": linear_delivery, "jira": jira_delivery}[tracker]()
    tampered = body.replace(b"Done", b"Open").replace(b"closed", b"opened")
    assert receiver.receive(tracker, tampered, headers).status == 401
    assert receiver.receive(tracker, body, {}).status == 401
    assert log.head_seq == 0


def test_replays_are_stored_once(receiver, log):
    body, headers = github_delivery()
    assert receiver.receive("github", body, headers).status == 202
    verdict = receiver.receive("github", body, headers)
    assert (verdict.status, verdict.reason) == (200, "duplicate delivery: already stored")
    other_body, _ = github_delivery(state="open")
    reused = {**headers, "X-Hub-Signature-256": "sha256=" + sign(SECRETS["github"], other_body)}
    assert receiver.receive("github", other_body, reused).status == 409
    assert log.head_seq == 1


@pytest.mark.parametrize("tracker, make", [("linear", linear_delivery), ("jira", jira_delivery)])
def test_stale_deliveries_are_rejected(receiver, log, tracker, make):
    body, headers = make(ts=NOW - 3600)
    assert receiver.receive(tracker, body, headers).status == 400
    assert log.head_seq == 0


def test_unconfigured_trackers_accept_nothing(log):
    receiver = WebhookReceiver(log, {"github": None}, clock=lambda: NOW)
    body, headers = github_delivery()
    assert receiver.receive("github", body, headers).status == 503
    assert receiver.receive("gitlab", body, headers).status == 404


def _post(port: int, path: str, body: bytes, headers: dict) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("POST", path, body=body, headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


def test_the_server_is_bounded_and_stoppable(receiver):
    server = WebhookServer(receiver)
    port = server.server_address[1]
    worker = threading.Thread(target=server.serve)
    worker.start()
    try:
        body, headers = github_delivery()
        assert _post(port, "/webhooks/github", body, headers) == 202
        assert _post(port, "/webhooks/github", b"x" * 10, {"Content-Length": str(2 * 1024 * 1024)}) == 413
        assert _post(port, "/elsewhere", body, headers) == 404
    finally:
        server.stop()
        worker.join(5)
        server.server_close()
    assert not worker.is_alive()


def test_webhook_serve_cli_stops_after_max_requests(loki: Path):
    loki.mkdir(parents=True)
    child = subprocess.Popen(
        [sys.executable, "-m", "commands", "webhook", "serve", "--port", "0", "--max-requests", "2", "--duration", "30"],
        env=subprocess_env(LOKI_DIR=str(loki), GITHUB_WEBHOOK_SECRET=SECRETS["github"]),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        banner = read_line(child.stderr)
        port = int(banner.split("http://127.0.0.1:")[1].split("/")[0])
        body, headers = github_delivery()
        assert _post(port, "/webhooks/github", body, headers) == 202
        assert _post(port, "/webhooks/linear", *linear_delivery(ts=time.time())) == 503
        out, err = child.communicate(timeout=20)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0 and "handled 2 deliveries" in err
    with FileEventLog(loki) as log:
        assert [e.payload["ref"] for e in log.read()] == ["acme/app#7"]
    assert SECRETS["github"] not in out + err + banner
