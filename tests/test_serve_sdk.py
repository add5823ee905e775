"""Loki Mode's own Python SDK (`loki-mode-sdk` from PyPI) driven against a real `lokilog serve`."""
from __future__ import annotations

import json

import pytest

from tests.serve_helpers import create_token, make_demo, running_server
from tests.conftest import run_lokilog

sdk = pytest.importorskip("loki_mode_sdk")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    loki = make_demo(tmp_path_factory.mktemp("sdk-demo"))
    tokens = {name: create_token(loki, *scopes, name=name) for name, scopes in
              {"viewer": ("read",), "operator": ("control",), "auditor": ("read", "audit"),
               "admin": ("control", "audit")}.items()}
    with running_server(loki) as server:
        yield server, {name: sdk.AutonomiClient(server.url, token=t, timeout=20) for name, t in tokens.items()}


def test_status_projects_and_tenants(served):
    server, clients = served
    viewer = clients["viewer"]
    assert viewer.get_status()["status"] == "ok"
    (project,) = viewer.list_projects()
    assert project.id == server.loki.parent.name and project.tenant_id == "default"
    assert viewer.get_project(project.id).name == project.name
    with pytest.raises(sdk.NotFoundError):
        viewer.get_project("someone-elses")
    (tenant,) = viewer.list_tenants()
    assert tenant.id == "default"
    with pytest.raises(sdk.NotAvailableOnControlPlaneError) as refused:
        clients["operator"].create_project("new")
    assert refused.value.status_code == 501 and "one project" in json.loads(refused.value.response_body)["detail"]
    with pytest.raises(sdk.NotAvailableOnControlPlaneError):
        clients["operator"].create_tenant("acme")


def test_runs_timeline_and_events(served):
    server, clients = served
    viewer = clients["viewer"]
    (run,) = viewer.list_runs()
    assert run.id == "session-demo" and run.status == "failed" and run.config["model"] == "claude-sonnet-4"
    assert viewer.list_runs(status="running") == [] and viewer.list_runs(project_id="nope") == []
    assert viewer.get_run("session-demo").started_at == run.started_at
    timeline = viewer.get_run_timeline("session-demo")
    assert timeline[0].event_type == "session.start" and timeline[-1].event_type == "session.end"
    assert any(e.phase == "ACT" for e in timeline)
    later = sdk.EventStream(viewer).poll_events("session-demo", since=timeline[-3].timestamp)
    assert [e.id for e in later] == [e.id for e in timeline[-2:]]
    sessions = sdk.SessionManager(viewer)
    assert [s["id"] for s in sessions.list_sessions(server.loki.parent.name)] == ["session-demo"]
    assert sessions.get_session("session-demo")["status"] == "failed"
    with pytest.raises(sdk.NotFoundError):
        viewer.get_run("no-such-run")
    with pytest.raises(sdk.NotAvailableOnControlPlaneError):
        clients["operator"].replay_run("session-demo")


def test_cancel_a_running_run_is_recorded(served):
    server, clients = served
    run_lokilog("emit", "session", "-s", "runner", "-a", "start", "session_id=live-1", loki=server.loki)
    with pytest.raises(sdk.ForbiddenError):
        clients["viewer"].cancel_run("live-1")
    cancelled = clients["operator"].cancel_run("live-1")
    assert cancelled.status == "cancelled"
    with pytest.raises(sdk.AutonomiError) as twice:
        clients["operator"].cancel_run("live-1")
    assert twice.value.status_code == 409
    replay = run_lokilog("replay", "--type", "session", "--json", loki=server.loki).stdout.splitlines()
    stop = json.loads(replay[-1])
    assert stop["source"] == "api" and stop["payload"]["status"] == "cancelled"
    assert stop["payload"]["who"].startswith("token:operator(")


def test_tasks_list_get_create_update(served):
    server, clients = served
    tasks = sdk.TaskManager(clients["viewer"])
    listed = {t.id: t for t in tasks.list_tasks()}
    assert listed["task-003"].status == "failed" and listed["task-001"].title == "Write the parser"
    assert [t.id for t in tasks.list_tasks(status="failed")] == ["task-003"]
    assert tasks.get_task("task-002").status == "completed"
    with pytest.raises(sdk.NotFoundError):
        tasks.get_task("task-999")
    with pytest.raises(sdk.ForbiddenError):
        tasks.create_task(server.loki.parent.name, "not allowed")
    writer = sdk.TaskManager(clients["operator"])
    made = writer.create_task(server.loki.parent.name, "Ship it", description="from the SDK", priority="high")
    assert made.status == "pending" and made.priority == "high" and made.title == "Ship it"
    moved = writer.update_task(made.id, status="in_progress")
    assert moved.status == "in_progress" and tasks.get_task(made.id).status == "in_progress"
    with pytest.raises(sdk.NotFoundError):
        writer.create_task("other-project", "x")


def test_audit_needs_the_audit_scope(served):
    server, clients = served
    with pytest.raises(sdk.ForbiddenError):
        clients["viewer"].query_audit()
    entries = clients["auditor"].query_audit(limit=500)
    assert entries[0].action == "session.start" and entries[0].user_id == "runner"
    failed = clients["auditor"].query_audit(action="task.failed")
    assert [e.resource_id for e in failed] == ["task-003"] and failed[0].success is False
    assert len(clients["auditor"].query_audit(limit=3)) == 3
    window = clients["auditor"].query_audit(start_date="2026-02-21T10:00:00Z", end_date="2026-02-21T10:00:15Z")
    assert [e.action for e in window] == ["session.start", "agent.start"]


def test_api_keys_list_create_rotate(served):
    server, clients = served
    admin = clients["admin"]
    names = {k.name: k for k in admin.list_api_keys()}
    assert names["viewer"].role == "viewer" and names["viewer"].scopes == ["read"]
    created = admin.create_api_key("sdk-made", role="viewer")
    assert created["token"].startswith("lkl_") and created["role"] == "viewer"
    fresh = sdk.AutonomiClient(server.url, token=created["token"], timeout=20)
    assert fresh.get_status()["status"] == "ok"
    rotated = admin.rotate_api_key(created["id"], grace_period_hours=0)
    with pytest.raises(sdk.AuthenticationError):
        fresh.get_status()
    assert sdk.AutonomiClient(server.url, token=rotated["token"]).get_status()["status"] == "ok"
    with pytest.raises(sdk.ForbiddenError):
        clients["operator"].create_api_key("escalate", role="admin")
    with pytest.raises(sdk.ForbiddenError):
        clients["viewer"].list_api_keys()
    with pytest.raises(sdk.NotFoundError):
        admin.rotate_api_key("no-such-key")
    assert "sdk-made" in (server.loki / "config.yaml").read_text()
    assert created["token"] not in (server.loki / "config.yaml").read_text()


def test_a_wrong_token_is_401(served):
    server, _ = served
    with pytest.raises(sdk.AuthenticationError):
        sdk.AutonomiClient(server.url, token="lkl_00000000_wrong", timeout=20).list_runs()
