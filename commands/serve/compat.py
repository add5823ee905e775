"""The routes Loki Mode's own clients call (its `loki-mode-sdk`), answered from the log.

This `.loki/` is one project of one tenant; a run is a session. Where the log cannot back a
route (creating projects or tenants, replaying a run) the answer is 501 with a reason, as Loki
Mode's own shim does: nothing is made up.
"""
from __future__ import annotations

import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Optional

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from eventlog import EventFilter, InvalidEventError, parse_timestamp, settings_files
from eventlog.errors import SettingsFileError
from eventlog.events import format_timestamp

from .auth import Principal, require
from .context import loki_dir, open_log
from .errors import ApiError, not_found, not_implemented
from .runs import CANCELLED, RUNNING, fold_runs, timeline

router = APIRouter(tags=["loki-mode"])
_SESSIONS = EventFilter.build(types=["session"])
_STATUS_ACTIONS = {"pending": "queued", "in_progress": "started", "completed": "completed", "failed": "failed"}


def _config(root: Path) -> dict:
    try:
        return settings_files.load(root, "config")[0]
    except (OSError, SettingsFileError):
        return {}


def tenant(root: Path) -> dict[str, Any]:
    """The one tenant this `.loki/` serves: config.yaml's ``tenant`` (a name or {id, name}), else default."""
    value = _config(root).get("tenant") or "default"
    if isinstance(value, dict):
        tenant_id = str(value.get("id") or value.get("name") or "default")
        return {"id": tenant_id, "name": str(value.get("name") or tenant_id), "slug": tenant_id,
                "description": value.get("description"), "created_at": None}
    return {"id": str(value), "name": str(value), "slug": str(value), "description": None, "created_at": None}


def project(root: Path) -> dict[str, Any]:
    """This `.loki/` as a project: config.yaml's ``project`` or the name of the directory holding it."""
    value = _config(root).get("project")
    name = (value.get("name") if isinstance(value, dict) else value) or Path(os.path.abspath(root)).parent.name or "project"
    project_id = (value.get("id") if isinstance(value, dict) else None) or re.sub(r"[^A-Za-z0-9._-]+", "-", str(name))
    return {"id": str(project_id), "name": str(name), "description": None, "status": "active",
            "tenant_id": tenant(root)["id"], "created_at": None, "updated_at": None}


def _runs(request: Request):
    root = loki_dir(request)
    with open_log(request) as log:
        return fold_runs(log.read(filter=_SESSIONS), project(root)["id"])


def _run(request: Request, run_id: str):
    found = _runs(request).get(run_id)
    if found is None:
        raise not_found(f"no run {run_id!r} (a run is a session: see /api/v2/runs)")
    return found


def _own_project(request: Request, project_id: str) -> dict[str, Any]:
    mine = project(loki_dir(request))
    if project_id != mine["id"]:
        raise not_found(f"no project {project_id!r}; this .loki/ is project {mine['id']!r}")
    return mine


# ------------------------------------------------------------------ projects, tenants, runs

@router.get("/api/projects", summary="This .loki/ as Loki Mode's one project")
def list_projects(request: Request, _: Principal = Depends(require("read"))) -> dict[str, list[dict[str, Any]]]:
    return {"projects": [project(loki_dir(request))]}


@router.post("/api/projects", summary="Not backed by the log (501)", status_code=501)
def create_project(_: Principal = Depends(require("control"))):
    raise not_implemented("lokilog serves one project per .loki/ directory; create a project by creating a directory")


@router.get("/api/projects/{project_id}", summary="The project")
def get_project(project_id: str, request: Request, _: Principal = Depends(require("read"))) -> dict[str, Any]:
    return _own_project(request, project_id)


@router.get("/api/projects/{project_id}/sessions", summary="The project's sessions (runs)")
def project_sessions(project_id: str, request: Request, _: Principal = Depends(require("read"))) -> dict[str, list]:
    _own_project(request, project_id)
    return {"sessions": [r.to_dict() for r in _runs(request).values()]}


@router.get("/api/sessions/{session_id}", summary="One session")
def get_session(session_id: str, request: Request, _: Principal = Depends(require("read"))) -> dict[str, Any]:
    return _run(request, session_id).to_dict()


@router.get("/api/v2/tenants", summary="The one tenant this .loki/ serves")
def list_tenants(request: Request, _: Principal = Depends(require("read"))) -> dict[str, list[dict[str, Any]]]:
    return {"tenants": [tenant(loki_dir(request))]}


@router.post("/api/v2/tenants", summary="Not backed by the log (501)", status_code=501)
def create_tenant(_: Principal = Depends(require("control"))):
    raise not_implemented("lokilog serves the one tenant named in .loki/config.yaml (`tenant:`); it cannot create others")


@router.get("/api/v2/runs", summary="Runs (sessions), filtered by project and status")
def list_runs(request: Request, _: Principal = Depends(require("read")), project_id: Optional[str] = None,
              status: Optional[str] = None) -> dict[str, list[dict[str, Any]]]:
    runs = [r for r in _runs(request).values()
            if (project_id is None or r.project_id == project_id) and (status is None or r.status == status)]
    return {"runs": [r.to_dict() for r in runs]}


@router.get("/api/v2/runs/{run_id}", summary="One run")
def get_run(run_id: str, request: Request, _: Principal = Depends(require("read"))) -> dict[str, Any]:
    return _run(request, run_id).to_dict()


@router.get("/api/v2/runs/{run_id}/timeline", summary="The run's events in order")
def run_timeline(run_id: str, request: Request, _: Principal = Depends(require("read"))) -> dict[str, list]:
    run = _run(request, run_id)
    with open_log(request) as log:
        return {"events": timeline(run, log.read(1, run.end_seq))}


@router.get("/api/runs/{run_id}/events", summary="The run's events after a time (polling)")
def run_events(run_id: str, request: Request, _: Principal = Depends(require("read")),
               since: Annotated[Optional[str], Query(description="Only events strictly after this RFC 3339 time.")] = None):
    run = _run(request, run_id)
    try:
        after = parse_timestamp(since) if since is not None else None
    except ValueError:
        raise InvalidEventError(f"since={since!r} is not an RFC 3339 timestamp") from None
    with open_log(request) as log:
        events = timeline(run, log.read(1, run.end_seq))
    return {"events": [e for e in events if after is None or _after(e["timestamp"], after)]}


def _after(text: str, moment) -> bool:
    try:
        return parse_timestamp(text) > moment
    except ValueError:
        return False


@router.post("/api/v2/runs/{run_id}/cancel", summary="Cancel a run: records session.stop (status cancelled)")
def cancel_run(run_id: str, request: Request, principal: Principal = Depends(require("control"))) -> dict[str, Any]:
    run = _run(request, run_id)
    if run.status != RUNNING:
        raise ApiError(409, "conflict", f"run {run_id!r} is already {run.status}")
    with open_log(request) as log:
        log.append("session", "api", {"action": "stop", "session_id": run_id, "status": CANCELLED,
                                      "who": principal.who, "reason": "cancelled over the API"}, stream=run_id)
    return _run(request, run_id).to_dict()


@router.post("/api/v2/runs/{run_id}/replay", summary="Not backed by the log (501)", status_code=501)
def replay_run(run_id: str, _: Principal = Depends(require("control"))):
    raise not_implemented("replaying a run means re-executing it; lokilog records runs, it does not execute them "
                          "(to read one again: GET /api/v2/runs/{id}/timeline)")


# ------------------------------------------------------------------ tasks

def _tasks(request: Request) -> dict[str, dict[str, Any]]:
    from projections.engine import catch_up
    from projections.run_state import RunStateProjection

    state = catch_up(loki_dir(request), RunStateProjection()).state
    project_id = project(loki_dir(request))["id"]
    return {task_id: _task(task, project_id) for task_id, task in sorted(state.tasks.items())}


def _task(task, project_id: str) -> dict[str, Any]:
    return {"id": task.id, "project_id": project_id, "title": task.title or task.id, "description": None,
            "status": task.status, "priority": task.priority if isinstance(task.priority, str) else "medium",
            "assigned_agent_id": task.agent, "created_at": task.created_at,
            "gates": dict(task.gates), "error": task.error}


def _find_task(request: Request, task_id: str) -> dict[str, Any]:
    found = _tasks(request).get(task_id)
    if found is None:
        raise not_found(f"no task {task_id!r}")
    return found


@router.get("/api/tasks", summary="Tasks from the run state")
def list_tasks(request: Request, _: Principal = Depends(require("read")), project_id: Optional[str] = None,
               status: Optional[str] = None) -> dict[str, list[dict[str, Any]]]:
    tasks = [t for t in _tasks(request).values()
             if (project_id is None or t["project_id"] == project_id) and (status is None or t["status"] == status)]
    return {"tasks": tasks}


@router.get("/api/tasks/{task_id}", summary="One task")
def get_task(task_id: str, request: Request, _: Principal = Depends(require("read"))) -> dict[str, Any]:
    return _find_task(request, task_id)


class TaskCreate(BaseModel):
    project_id: str
    title: str = Field(min_length=1, max_length=500)
    description: Optional[str] = Field(None, max_length=10_000)
    priority: str = Field("medium", max_length=32)


class TaskUpdate(BaseModel):
    status: Optional[str] = Field(None, description="pending, in_progress, completed or failed")
    priority: Optional[str] = Field(None, max_length=32)


@router.post("/api/tasks", status_code=201, summary="Create a task: records task.created")
def create_task(body: TaskCreate, request: Request, principal: Principal = Depends(require("control"))) -> dict[str, Any]:
    _own_project(request, body.project_id)
    task_id = f"task-{os.urandom(6).hex()}"
    payload = {"action": "created", "task_id": task_id, "title": body.title, "priority": body.priority,
               "who": principal.who}
    if body.description is not None:
        payload["description"] = body.description
    with open_log(request) as log:
        log.append("task", "api", payload, stream=task_id, expected_version=0)
    return dict(_find_task(request, task_id), description=body.description)


@router.put("/api/tasks/{task_id}", summary="Change a task's status or priority: records a task event")
def update_task(task_id: str, body: TaskUpdate, request: Request,
                principal: Principal = Depends(require("control"))) -> dict[str, Any]:
    current = _find_task(request, task_id)
    status = body.status or current["status"]
    if status not in _STATUS_ACTIONS:
        raise InvalidEventError(f"status {status!r} is not one of {', '.join(_STATUS_ACTIONS)}")
    payload = {"action": _STATUS_ACTIONS[status], "task_id": task_id, "who": principal.who}
    if body.priority is not None:
        payload["priority"] = body.priority
    with open_log(request) as log:
        log.append("task", "api", payload, stream=task_id)
    return _find_task(request, task_id)


# ------------------------------------------------------------------ audit and API keys

@router.get("/api/v2/audit", summary="Audit entries in Loki Mode's shape")
def audit(request: Request, _: Principal = Depends(require("audit")), start_date: Optional[str] = None,
          end_date: Optional[str] = None, action: Optional[str] = None,
          limit: Annotated[int, Query(ge=1, le=10_000)] = 100) -> dict[str, list[dict[str, Any]]]:
    from .routes_audit import entries

    return {"entries": [_audit_entry(e) for e in entries(loki_dir(request), None, action, start_date, end_date, limit)]}


def _audit_entry(entry) -> dict[str, Any]:
    failed = entry.what.split(".")[-1] in ("failed", "fail", "denied", "crash") or entry.metadata.get("type") == "error"
    return {"timestamp": entry.timestamp, "action": entry.what, "resource_type": entry.metadata.get("type", ""),
            "resource_id": entry.where or entry.event_id or "", "user_id": entry.who, "success": not failed,
            "seq": entry.seq, "hash": entry.hash}


class KeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    role: str = Field("viewer", description="viewer (read), operator (control), auditor (read, audit), admin")


class KeyRotate(BaseModel):
    grace_period_hours: float = Field(24, ge=0, le=24 * 90)


def _key(record, request: Request) -> dict[str, Any]:
    used = request.app.state.auth.last_used.get(record.id)
    return {**record.public(), "last_used": format_timestamp(datetime.fromtimestamp(used, timezone.utc)) if used else None}


@router.get("/api/v2/api-keys", summary="API keys: lokilog's tokens (never their secrets)")
def list_keys(request: Request, _: Principal = Depends(require("control"))) -> dict[str, list[dict[str, Any]]]:
    return {"keys": [_key(r, request) for r in request.app.state.auth.store.all()]}


def _no_escalation(principal: Principal, scopes) -> None:
    from .tokens import grant

    beyond = sorted(grant(scopes) - principal.scopes)
    if beyond:
        raise ApiError(403, "forbidden", f"a token cannot hand out scopes it does not hold: {', '.join(beyond)}")


@router.post("/api/v2/api-keys", status_code=201, summary="Create a key (shown once)")
def create_key(body: KeyCreate, request: Request, principal: Principal = Depends(require("control"))) -> dict[str, Any]:
    from .tokens import scopes_for_role

    scopes = scopes_for_role(body.role)
    _no_escalation(principal, scopes)
    minted = request.app.state.auth.store.create(body.name, scopes, by=principal.who)
    return {**_key(minted.record, request), "token": minted.token}


@router.post("/api/v2/api-keys/{identifier}/rotate", summary="Rotate a key; the old one works for the grace period")
def rotate_key(identifier: str, request: Request, body: Optional[KeyRotate] = None,
               principal: Principal = Depends(require("control"))) -> dict[str, Any]:
    store = request.app.state.auth.store
    current = next((r for r in store.configured() if identifier in (r.id, r.name)), None)
    if current is None:
        raise not_found(f"no key {identifier!r} (keys from the environment cannot be rotated here)")
    _no_escalation(principal, current.scopes)
    hours = body.grace_period_hours if body else 24
    minted = store.rotate(identifier, hours * 3600, by=principal.who)
    return {**_key(minted.record, request), "token": minted.token,
            "previous_valid_until": minted.record.previous_expires_at}
