"""The control plane's API through a real `lokilog serve` on 127.0.0.1 (a subprocess per module)."""
from __future__ import annotations

import json
import threading
import time

import pytest

from tests.serve_helpers import bearer, create_token, make_demo, running_server
from tests.conftest import run_lokilog

httpx = pytest.importorskip("httpx")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    loki = make_demo(tmp_path_factory.mktemp("serve-demo"))
    tokens = {scope: create_token(loki, scope, name=f"t-{scope}") for scope in ("read", "control", "audit")}
    with running_server(loki) as server:
        with httpx.Client(base_url=server.url, timeout=20) as client:
            yield server, client, tokens


def _events(loki, **filters):
    done = run_lokilog("replay", "--json", *[a for k, v in filters.items() for a in (f"--{k}", v)], loki=loki)
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_every_api_route_needs_a_valid_bearer_token(demo):
    server, client, tokens = demo
    for path in ("/api/events", "/api/status", "/api/checkpoints", "/metrics", "/api/audit/head", "/api/v2/runs"):
        missing = client.get(path)
        assert missing.status_code == 401, path
        assert missing.json()["error"] == "unauthorized"
        assert missing.headers["www-authenticate"].startswith("Bearer")
    forged = client.get("/api/events", headers=bearer(tokens["read"][:-2] + "xx"))
    assert forged.status_code == 401 and "not valid" in forged.json()["detail"]


def test_scopes_read_cannot_control_and_control_implies_read(demo):
    server, client, tokens = demo
    refused = client.post("/api/checkpoints", json={"message": "x"}, headers=bearer(tokens["read"]))
    assert refused.status_code == 403 and "'control' scope" in refused.json()["detail"]
    assert client.get("/api/status", headers=bearer(tokens["control"])).status_code == 200
    assert client.get("/api/audit/head", headers=bearer(tokens["control"])).status_code == 403
    assert client.get("/api/audit/head", headers=bearer(tokens["audit"])).status_code == 200


def test_replay_pages_by_cursor_cover_the_log_exactly_once(demo):
    server, client, tokens = demo
    seen, cursor = [], None
    for _ in range(100):
        params = {"limit": 7, **({"cursor": cursor} if cursor is not None else {})}
        page = client.get("/api/events", params=params, headers=bearer(tokens["read"])).json()
        seen += [e["seq"] for e in page["events"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    stored = [e["seq"] for e in _events(server.loki)]
    assert seen[: len(stored)] == stored[: len(seen)] and len(seen) >= 37
    tasks = client.get("/api/events", params={"type": "task", "where": "payload.task_id=task-002"},
                       headers=bearer(tokens["read"])).json()["events"]
    assert [e["payload"]["action"] for e in tasks] == ["created", "started", "completed"]
    bad = client.get("/api/events", params={"since": "yesterday"}, headers=bearer(tokens["read"]))
    assert bad.status_code == 400 and "RFC 3339" in bad.json()["detail"]


def test_emit_is_idempotent_by_id_and_conflicts_on_expected_version(demo):
    server, client, tokens = demo
    headers = bearer(tokens["control"])
    body = {"type": "task", "payload": {"action": "created", "task_id": "remote-1"}, "id": "remote-emit-1",
            "stream": "remote-1"}
    first = client.post("/api/events", json=body, headers=headers).json()
    again = client.post("/api/events", json=body, headers=headers).json()
    assert first["status"] == "appended" and again == {**again, "status": "duplicate", "seq": first["seq"]}
    stale = client.post("/api/events", json={"type": "task", "stream": "remote-1", "expected_version": 0,
                                             "payload": {"action": "started"}}, headers=headers)
    assert stale.status_code == 409 and stale.json()["error"] == "conflict"
    assert client.post("/api/events", json={"type": "x"}, headers=bearer(tokens["read"])).status_code == 403


def test_every_state_changing_request_is_recorded_with_who_and_where(demo):
    server, client, tokens = demo
    client.post("/api/events", json={"type": "note", "payload": {"text": "hi"}}, headers=bearer(tokens["control"]))
    client.post("/api/checkpoints", json={}, headers=bearer(tokens["read"]))  # refused: recorded as denied
    recorded = [e["payload"] for e in _events(server.loki, type="control")]
    ok = [r for r in recorded if r["path"] == "/api/events" and r["status"] == 200][-1]
    assert ok["who"].startswith("token:t-control(") and ok["where"].startswith("127.0.0.1:")
    denied = [r for r in recorded if r["path"] == "/api/checkpoints" and r["status"] == 403][-1]
    assert denied["outcome"] == "denied" and denied["who"].startswith("token:t-read(")
    entries = client.get("/api/audit/query", params={"what": "control.request", "limit": 1000},
                         headers=bearer(tokens["audit"])).json()["entries"]
    assert any(e["who"] == ok["who"] and e["where"] == ok["where"] for e in entries)


def test_rollback_returns_its_undo_and_the_undo_restores(demo):
    server, client, tokens = demo
    headers = bearer(tokens["control"])
    queue = server.loki / "queue" / "pending.json"
    queue.parent.mkdir(parents=True, exist_ok=True)
    queue.write_text('["before"]\n')
    made = client.post("/api/checkpoints", json={"message": "api test"}, headers=headers)
    assert made.status_code == 201
    queue.write_text('["after"]\n')
    done = client.post(f"/api/checkpoints/{made.json()['id']}/rollback", headers=headers).json()
    assert queue.read_text() == '["before"]\n' and done["checkpoint_id"] == made.json()["id"]
    undo = done["undo"]
    assert undo["path"] == f"/api/checkpoints/{done['pre_rollback_checkpoint']}/rollback"
    client.request(undo["method"], undo["path"], json=undo["body"], headers=headers).raise_for_status()
    assert queue.read_text() == '["after"]\n'
    listed = client.get("/api/checkpoints", headers=headers).json()["checkpoints"]
    assert done["pre_rollback_checkpoint"] in {c["id"] for c in listed}


@pytest.mark.parametrize("bad_id", ["..", "a..b", "%2e%2e%2fetc", "..%2F..%2Fetc", "-x", "a%00b"])
def test_checkpoint_ids_cannot_escape_the_store(demo, bad_id):
    server, client, tokens = demo
    answer = client.post(f"/api/checkpoints/{bad_id}/rollback", headers=bearer(tokens["control"]))
    assert answer.status_code in (400, 404), answer.text
    assert answer.json()["error"] in ("bad_request", "not_found")


def test_time_travel_and_diff(demo):
    server, client, tokens = demo
    headers = bearer(tokens["read"])
    early = client.get("/api/state/run-state", params={"at_seq": 3}, headers=headers).json()
    assert early["seq"] == 3 and early["state"]["tasks"] == {}
    at_time = client.get("/api/state/run-state", params={"at": "2026-02-21T10:00:21Z"}, headers=headers).json()
    assert at_time["seq"] == 3
    diff = client.get("/api/state/run-state/diff", params={"from": 3, "to": 9}, headers=headers).json()
    assert any(c["path"].startswith("tasks.task-001") for c in diff["changes"])
    assert client.get("/api/state/nope", headers=headers).status_code == 404


def test_approvals_answered_once_then_conflict(demo):
    server, client, tokens = demo
    pending = client.get("/api/approvals", headers=bearer(tokens["read"])).json()["approvals"]
    assert pending, "the demo leaves one approval pending"
    approval_id = pending[0]["approval_id"]
    path = f"/api/approvals/{approval_id}/approve"
    assert client.post(path, headers=bearer(tokens["read"])).status_code == 403
    granted = client.post(path, json={"reason": "looks fine"}, headers=bearer(tokens["control"]))
    assert granted.status_code == 200 and granted.json()["status"] == "granted"
    again = client.post(f"/api/approvals/{approval_id}/deny", headers=bearer(tokens["control"]))
    assert again.status_code == 409
    assert client.post("/api/approvals/apr-nope/approve", headers=bearer(tokens["control"])).status_code == 404


def test_status_cost_metrics_and_audit(demo):
    server, client, tokens = demo
    status = client.get("/api/status", headers=bearer(tokens["read"])).json()
    assert status["run"]["session"]["id"] == "session-demo" and status["head_seq"] >= 37
    cost = client.get("/api/cost", params={"by": "model,task"}, headers=bearer(tokens["read"])).json()
    assert cost["total"]["input_tokens"] == 36000 and cost["budgets"]
    assert "loki_events_total" in client.get("/metrics", headers=bearer(tokens["read"])).text
    verified = client.get("/api/audit/verify", headers=bearer(tokens["audit"])).json()
    assert verified["valid"] is True and verified["entries"] >= 37
    report = client.get("/api/audit/report/gdpr", headers=bearer(tokens["audit"]))
    assert report.status_code == 200 and report.json()["framework"] == "gdpr"
    assert client.get("/api/audit/report/hipaa", headers=bearer(tokens["audit"])).status_code == 404


def test_bodies_and_headers_are_bounded(demo):
    server, client, tokens = demo
    huge = client.post("/api/events", content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
                       headers={**bearer(tokens["control"]), "content-type": "application/json"})
    assert huge.status_code == 413 and huge.json()["error"] == "body_too_large"
    tall = client.get("/api/status", headers={**bearer(tokens["read"]), "x-pad": "a" * 17000})
    assert tall.status_code in (400, 431)


def test_sse_resumes_after_last_event_id_and_streams_new_events(demo):
    server, client, tokens = demo
    got: list[dict] = []
    stop = threading.Event()

    def listen():
        with httpx.stream("GET", f"{server.url}/api/events/stream", timeout=20,
                          headers={**bearer(tokens["read"]), "Last-Event-ID": "30"}) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                if line.startswith("data: "):
                    got.append(json.loads(line[6:]))
                if stop.is_set() or any(e["type"] == "sse-probe" for e in got):
                    return

    thread = threading.Thread(target=listen)
    thread.start()
    deadline = time.monotonic() + 10
    while len(got) < 7 and time.monotonic() < deadline:
        time.sleep(0.05)
    done = run_lokilog("emit", "sse-probe", "n:=1", loki=server.loki)
    assert done.returncode == 0
    thread.join(15)
    stop.set()
    seqs = [e["seq"] for e in got]
    assert seqs[0] == 31 and seqs == sorted(set(seqs)) and seqs == list(range(31, 31 + len(seqs)))
    assert got[-1]["type"] == "sse-probe"


def test_environment_tokens_work_and_are_rate_limited_with_retry_after(tmp_path):
    loki = make_demo(tmp_path)
    secret = "env-token-0123456789abcdef"
    with running_server(loki, LOKILOG_SERVE_TOKENS=f"read:{secret}", LOKILOG_SERVE_RATE_TOKEN="1/3") as server:
        assert server.session_token is None  # a token is configured (in the environment)
        refused = httpx.post(f"{server.url}/api/checkpoints", json={}, headers=bearer(secret), timeout=10)
        codes = [httpx.get(f"{server.url}/api/status", headers=bearer(secret), timeout=10) for _ in range(5)]
    assert refused.status_code == 403
    assert [c.status_code for c in codes[:2]] == [200, 200]
    limited = [c for c in codes if c.status_code == 429]
    assert limited and int(limited[0].headers["retry-after"]) >= 1 and limited[0].json()["error"] == "rate_limited"


def test_session_token_is_minted_only_when_none_is_configured(tmp_path):
    loki = make_demo(tmp_path)
    with running_server(loki) as server:
        assert server.session_token
        assert httpx.get(f"{server.url}/api/status", headers=bearer(server.session_token)).status_code == 200
    assert server.session_token not in (loki / "config.yaml").read_text() if (loki / "config.yaml").exists() else True


def test_a_non_loopback_bind_without_tokens_is_refused(tmp_path):
    done = run_lokilog("serve", "--host", "0.0.0.0", "--duration", "0", loki=tmp_path / ".loki")
    assert done.returncode == 2 and "no tokens are configured" in done.stderr
