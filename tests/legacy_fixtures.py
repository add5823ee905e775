"""Writers of Loki Mode's documented formats, for tests: what bus.py, bus.ts, emit.sh and run.sh leave.

Each function writes exactly the bytes the corresponding Loki Mode writer produces (layout,
key order, indentation, timestamp spelling, file name), from the formats documented in
DESIGN.md "Loki Mode compatibility" and docs/LOKI_MODE.md.
"""
from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EMIT_SH = REPO / "tests" / "fixtures" / "loki_emit.sh"


def file_name(timestamp: str, event_id: str) -> str:
    return f"{timestamp.replace(':', '-')}_{event_id}.json"


def nested(event_id: str, type: str, source: str, timestamp: str, payload: dict) -> dict:
    return {"id": event_id, "type": type, "source": source, "timestamp": timestamp, "payload": payload, "version": "1.0"}


def bus_py_timestamp(moment: datetime) -> str:
    """bus.py: datetime.isoformat(): microseconds and +00:00, or seconds only when microsecond is 0."""
    return moment.astimezone(timezone.utc).isoformat()


def bus_ts_timestamp(moment: datetime) -> str:
    """bus.ts: Date.toISOString(): milliseconds and Z."""
    utc = moment.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def write_pending(loki: Path, event: dict, style: str = "pretty", directory: str = "pending") -> Path:
    """Write one event file as Loki Mode's writers do (pretty: indent 2; compact: one line)."""
    folder = loki / "events" / directory
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file_name(event["timestamp"], event["id"])
    text = json.dumps(event, indent=2) if style == "pretty" else json.dumps(event, separators=(",", ":"))
    path.write_text(text + ("\n" if style != "bare" else ""))
    return path


def flat_line(timestamp: str, type: str, data) -> bytes:
    """run.sh emit_event_json / emit.sh: compact ``{"timestamp","type","data"}``."""
    return json.dumps({"timestamp": timestamp, "type": type, "data": data}, separators=(",", ":")).encode() + b"\n"


def run_sh_emit_event(timestamp: str, type: str, text: str) -> bytes:
    """run.sh emit_event: python json.dumps with default separators and a string body."""
    return json.dumps({"timestamp": timestamp, "type": type, "data": text}).encode() + b"\n"


def append_flat(loki: Path, line: bytes, name: str = "events.jsonl") -> None:
    loki.mkdir(parents=True, exist_ok=True)
    with open(loki / name, "ab") as handle:
        handle.write(line)


def dual_write(loki: Path, event: dict) -> Path:
    """emit.sh: the pending file (tmp + rename), then the same event as a flat line."""
    folder = loki / "events" / "pending"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file_name(event["timestamp"], event["id"])
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(event, indent=2) + "\n")
    os.replace(tmp, path)
    append_flat(loki, flat_line(event["timestamp"], event["type"], event["payload"]))
    return path


def rotate(loki: Path) -> None:
    """emit.sh's rotation: an unlocked mv of events.jsonl over events.jsonl.1."""
    os.replace(loki / "events.jsonl", loki / "events.jsonl.1")


def loki_subscriber_pass(loki: Path) -> int:
    """What a Loki Mode subscriber does: read each pending file, then move it to archive/."""
    pending, archive = loki / "events" / "pending", loki / "events" / "archive"
    archive.mkdir(parents=True, exist_ok=True)
    moved = 0
    for path in sorted(pending.glob("*.json")) if pending.exists() else []:
        try:
            json.loads(path.read_text())
            path.rename(archive / path.name)
            moved += 1
        except (ValueError, OSError):
            continue
    return moved


# --------------------------------------------------------------------------- Loki Mode 9.22 - 9.48
# The shapes of docs/LOKI_MODE.md "Loki Mode 9.22 - 9.48", each written as that writer writes it.

def run_sh_pending(loki: Path, event_id: str, type: str, timestamp: str, payload: dict[str, str]) -> Path:
    """run.sh emit_event_pending: no source, 8-hex id, second-precision Z, string values; .tmp then mv."""
    assert len(event_id) == 8 and timestamp.endswith("Z") and all(isinstance(v, str) for v in payload.values())
    folder = loki / "events" / "pending"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file_name(timestamp, event_id)
    tmp = path.with_name(path.name + ".tmp")
    body = {"id": event_id, "type": type, "timestamp": timestamp, "payload": payload, "version": "1.0"}
    tmp.write_text(json.dumps(body) + "\n")
    os.replace(tmp, path)
    return path


def hook_line(loki: Path, event: str, timestamp: str, payload: dict) -> bytes:
    """run.sh's embedded hook writer: top-level source and payload, appended under flock on events.jsonl.lock."""
    import fcntl

    line = json.dumps({"type": f"claude_hook_{event}", "source": "claude_cli", "timestamp": timestamp,
                       "payload": payload}).encode() + b"\n"
    loki.mkdir(parents=True, exist_ok=True)
    with open(loki / "events.jsonl.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        append_flat(loki, line)
    return line


def import_copy_id(timestamp: str, type: str, payload: dict) -> str:
    """bus.py import_from_jsonl: the first 16 hex of sha1("<timestamp>|<type>|<json.dumps(payload, sort_keys=True)>")."""
    import hashlib

    return hashlib.sha1(f"{timestamp}|{type}|{json.dumps(payload, sort_keys=True)}".encode()).hexdigest()[:16]


def bus_py_import(loki: Path, line: bytes) -> Path:
    """bus.py import_from_jsonl: copy one flat line into pending/ under its derived id."""
    obj = json.loads(line)
    data = obj.get("data")
    payload = data if isinstance(data, dict) else obj.get("payload", {})
    source = obj.get("source") or (data.get("source") if isinstance(data, dict) else None) or "cli"
    event = nested(import_copy_id(obj["timestamp"], obj["type"], payload), obj["type"], source, obj["timestamp"], payload)
    return write_pending(loki, event)


def efficiency_file(loki: Path, iteration: int, **fields) -> Path:
    """run.sh: .loki/metrics/efficiency/iteration-<N>.json, pretty-printed; a field set to None is left out."""
    record = {"iteration": iteration, "model": "claude-sonnet-4", "phase": "ACT", "duration_ms": 1200,
              "provider": "claude", "status": "success", "input_tokens": 1000, "output_tokens": 200,
              "cache_read_tokens": 0, "cache_creation_tokens": 0, "cost_usd": 0.01,
              "timestamp": f"2026-02-21T10:{iteration:02d}:00Z"}
    record.update(fields)
    record = {k: v for k, v in record.items() if v is not None}
    folder = loki / "metrics" / "efficiency"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"iteration-{iteration}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def clear_efficiency(loki: Path) -> None:
    """run.sh at the start of every run: delete all iteration-*.json."""
    for path in (loki / "metrics" / "efficiency").glob("iteration-*.json"):
        path.unlink()


def trust_event(loki: Path, type: str, run_id: str, iteration: int, ts: str, **fields) -> None:
    """.loki/metrics/trust-events.jsonl: append-only, keys sorted."""
    record = {"type": type, "run_id": run_id, "iteration": iteration, "ts": ts, **fields}
    (loki / "metrics").mkdir(parents=True, exist_ok=True)
    with open(loki / "metrics" / "trust-events.jsonl", "a") as handle:
        handle.write(json.dumps(record, sort_keys=True) + "\n")
    (loki / "state").mkdir(parents=True, exist_ok=True)
    (loki / "state" / "trust-run-id").write_text(run_id + "\n")


def cost_history(loki: Path, ts: float, usd: float | None, model: str | None) -> None:
    """.loki/cost-history.jsonl: one line per run."""
    record = {"ts": ts, "workspace": str(loki.parent), "usd": usd, "measured": usd is not None, "model": model}
    loki.mkdir(parents=True, exist_ok=True)
    with open(loki / "cost-history.jsonl", "a") as handle:
        handle.write(json.dumps(record) + "\n")


def managed_event(loki: Path, ts: str, type: str, payload: dict) -> None:
    """.loki/managed/events.ndjson: {ts, type, payload}."""
    (loki / "managed").mkdir(parents=True, exist_ok=True)
    with open(loki / "managed" / "events.ndjson", "a") as handle:
        handle.write(json.dumps({"ts": ts, "type": type, "payload": payload}) + "\n")


def proof(loki: Path, run_id: str, generated_at: str, usd: float | None) -> Path:
    """.loki/proofs/<run_id>/proof.json (schema 1.1, with 9.48's cost flags and decisions)."""
    body = {
        "schema": "1.1", "run_id": run_id, "generated_at": generated_at, "iterations": 3,
        "cost": {"usd": usd, "cost_available": usd is not None, "cost_partial": False},
        "facts": [{"kind": "test", "passed": True}], "assessments": [{"gate": "unit", "status": "inconclusive"}],
        "honesty": {"claims": 2}, "tree_sha256": "ab" * 32, "base_sha": "", "redaction": {"applied": True},
        "decisions": {"status": "measured", "dispatch": {"claude-sonnet-4": 3}},
        "verification": {"hash": "cd" * 32, "algo": "sha256", "scope": "proof"},
    }
    path = loki / "proofs" / run_id / "proof.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body, indent=2) + "\n")
    (loki / "state").mkdir(parents=True, exist_ok=True)
    (loki / "state" / "last-proof-id.txt").write_text(run_id + "\n")
    return path


def js_stringify(value) -> str:
    """JSON.stringify(value) for the plain values the JS audit log writes (ints, strings, null, objects)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def js_audit_record(loki: Path, who: str, what: str, where=None, why=None, metadata=None) -> dict:
    """src/audit/log.js AuditLog.record + flush: one entry chained to the file's last one."""
    import hashlib

    path = loki / "audit" / "audit.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = path.read_text().splitlines() if path.exists() else []
    last = json.loads(lines[-1]) if lines else None
    entry = {"seq": (last["seq"] + 1) if last else 0, "timestamp": "2026-02-21T10:00:00.000Z", "who": who, "what": what,
             "where": where, "why": why, "metadata": metadata, "previousHash": last["hash"] if last else "GENESIS"}
    entry["hash"] = "sha256:" + hashlib.sha256(js_stringify(entry).encode()).hexdigest()
    with open(path, "a") as handle:
        handle.write(js_stringify(entry) + "\n")
    return entry


def unified_root(agent_tip: str, dashboard_tip: str) -> str:
    import hashlib

    return hashlib.sha256(f"loki-unified-audit-v1\n{agent_tip}\n{dashboard_tip}".encode()).hexdigest()


def js_crosslink(loki: Path, dashboard_tip: str = "0" * 64, dashboard_entries: int = 0) -> dict:
    """src/audit/crosslink.js crossLink: the dashboard tip folded into the agent chain."""
    path = loki / "audit" / "audit.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    tip = json.loads(lines[-1])["hash"] if lines else "GENESIS"
    return js_audit_record(loki, "audit-crosslink", "audit_crosslink", where="/home/u/.loki/dashboard/audit",
                           why="cross-link dashboard audit chain into agent audit chain",
                           metadata={"dashboardChainId": "loki-dashboard-audit", "dashboardTipHash": dashboard_tip,
                                     "dashboardEntries": dashboard_entries, "dashboardValidAtLink": True,
                                     "dashboardAvailable": True, "agentTipBeforeLink": tip,
                                     "unifiedRoot": unified_root(tip, dashboard_tip)})


def js_witness(loki: Path, dashboard_tip: str = "0" * 64, dashboard_entries: int = 0) -> dict:
    """crosslink.js writeWitness: the unified root appended to .loki/audit/witness.jsonl."""
    path = loki / "audit" / "audit.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    tip = json.loads(lines[-1])["hash"] if lines else "GENESIS"
    record = {"type": "loki-unified-audit-witness", "timestamp": "2026-02-21T10:05:00.000Z", "agentTipHash": tip,
              "agentEntries": len(lines), "dashboardTipHash": dashboard_tip, "dashboardEntries": dashboard_entries,
              "unifiedRoot": unified_root(tip, dashboard_tip)}
    with open(loki / "audit" / "witness.jsonl", "a") as handle:
        handle.write(json.dumps(record, separators=(",", ":")) + "\n")
    return record


def run_sh_checkpoint(loki: Path, iteration: int, epoch: int, task: str, sha: str = "0" * 40) -> str:
    """run.sh: state/checkpoints/cp-<iter>-<epoch>/ with metadata and copies, plus one short index line."""
    from datetime import datetime, timezone

    checkpoint_id = f"cp-{iteration}-{epoch}"
    stamp = datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    root = loki / "state" / "checkpoints"
    directory = root / checkpoint_id
    (directory / "state").mkdir(parents=True, exist_ok=True)
    (directory / "queue").mkdir(parents=True, exist_ok=True)
    (directory / "metadata.json").write_text(json.dumps({
        "id": checkpoint_id, "timestamp": stamp, "iteration": iteration, "task_id": f"task-{iteration}",
        "task_description": task, "git_sha": sha, "git_branch": "main", "provider": "claude", "phase": "ACT"}, indent=2))
    (directory / "state" / "orchestrator.json").write_text(json.dumps({"iteration": iteration}))
    (directory / "autonomy-state.json").write_text(json.dumps({"iteration": iteration}))
    for name in ("pending", "completed", "in-progress", "current-task"):
        (directory / "queue" / f"{name}.json").write_text(json.dumps({"iteration": iteration, "queue": name}))
    (directory / "CONTINUITY.md").write_text(f"iteration {iteration}\n")
    with open(root / "index.jsonl", "a") as handle:
        handle.write(json.dumps({"id": checkpoint_id, "ts": stamp, "iter": iteration, "task": task, "sha": sha}) + "\n")
    return checkpoint_id


def loki_subscriber_take(loki: Path, seen: list[str]) -> int:
    """bus.py's subscriber: pending files in name order, each processed (its id noted) then moved to archive/.

    processed.json keeps the last 1000 ids, as bus.py does. A file not yet whole is left for the next pass.
    """
    pending, archive = loki / "events" / "pending", loki / "events" / "archive"
    archive.mkdir(parents=True, exist_ok=True)
    taken = 0
    for path in sorted(pending.glob("*.json")) if pending.exists() else []:
        try:
            event = json.loads(path.read_text())
        except (ValueError, OSError):
            continue
        try:
            path.rename(archive / path.name)
        except FileNotFoundError:
            continue  # someone else took it: then it was not this subscriber's to process
        seen.append(event["id"])
        taken += 1
    if taken:
        processed = loki / "events" / "processed.json"
        processed.write_text(json.dumps({"ids": seen[-1000:]}))
    return taken
