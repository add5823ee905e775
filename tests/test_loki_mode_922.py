"""Loki Mode 9.22 - 9.48 in a `.loki/`: every writer's shape read once, and nothing of Loki Mode's disturbed."""
from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from eventlog import Event, FileEventLog, LogSettings
from eventlog.pending import drop
from tests.conftest import run_lokilog, subprocess_env
from tests.legacy_fixtures import (
    REPO, append_flat, bus_py_import, clear_efficiency, cost_history, efficiency_file, flat_line, hook_line,
    js_audit_record, js_crosslink, js_witness, managed_event, nested, proof, run_sh_checkpoint, run_sh_pending,
    trust_event, write_pending,
)


def ingest(loki: Path):
    with FileEventLog(loki, settings=LogSettings()) as log:
        return log.ingest_pending()


def stored(loki: Path) -> list[Event]:
    with FileEventLog(loki, settings=LogSettings()) as log:
        return list(log.read(ingest=False))


def by_type(loki: Path, type: str) -> list[Event]:
    return [e for e in stored(loki) if e.type == type]


# ----------------------------------------------------------------------------------- event files and lines


def test_run_sh_pending_files_without_a_source_are_stored_with_the_runner_default(loki):
    path = run_sh_pending(loki, "1a2b3c4d", "iteration_start", "2026-02-21T10:00:00Z", {"iteration": "3", "provider": "claude"})
    report = ingest(loki)
    assert (report.ingested, report.bad) == (1, [])
    [event] = stored(loki)
    assert (event.id, event.type, event.source, event.timestamp) == ("1a2b3c4d", "iteration_start", "runner", "2026-02-21T10:00:00Z")
    assert event.payload == {"iteration": "3", "provider": "claude"}
    assert path.exists()  # left in pending/ for Loki Mode's own subscribers


def test_short_ids_are_told_apart_by_content_never_by_id_alone(loki):
    run_sh_pending(loki, "deadbeef", "otel_span_start", "2026-02-21T10:00:00Z", {"span": "a"})
    run_sh_pending(loki, "deadbeef", "otel_span_end", "2026-02-21T10:00:01Z", {"span": "a"})  # the same 32-bit id
    assert ingest(loki).ingested == 2
    assert ingest(loki).ingested == 0  # read again: the same two, nothing new
    events = stored(loki)
    assert [e.type for e in events] == ["otel_span_start", "otel_span_end"]
    assert events[0].id == "deadbeef" and events[1].id.startswith("lm-")  # both kept, the second renamed


def test_hook_lines_keep_their_top_level_source_and_payload(loki):
    hook_line(loki, "PreToolUse", "2026-02-21T10:00:00.123456Z", {"tool": "Bash", "command": "ls"})
    append_flat(loki, flat_line("2026-02-21T10:00:01Z", "model_substituted",
                                {"pinned": "opus", "dispatched": "sonnet", "reason": "quota", "site": "act"}))
    append_flat(loki, flat_line("2026-02-21T10:00:02Z", "stage_complete",
                                {"stage": "completion_council", "status": "not_run", "duration_s": 0, "iteration": 3}))
    assert ingest(loki).bad == []
    hook, substituted, stage = stored(loki)
    assert (hook.type, hook.source, hook.payload) == ("claude_hook_PreToolUse", "claude_cli", {"tool": "Bash", "command": "ls"})
    assert substituted.payload["dispatched"] == "sonnet" and substituted.source == "runner"
    assert stage.payload["status"] == "not_run"


def test_a_bus_py_import_copy_is_the_same_event_as_its_flat_line_in_either_order(loki, tmp_path):
    hook = hook_line(loki, "Stop", "2026-02-21T10:00:00.000001Z", {"reason": "done"})
    line = flat_line("2026-02-21T10:00:01Z", "task", {"source": "runner", "action": "claim", "task_id": "t1"})
    append_flat(loki, line)
    ingest(loki)  # the lines first
    copies = [bus_py_import(loki, hook), bus_py_import(loki, line)]
    assert all(len(p.stem.rsplit("_", 1)[1]) == 16 for p in copies)
    report = ingest(loki)
    assert (report.ingested, report.twins) == (0, 2)
    other = tmp_path / "other" / ".loki"  # the copies first, then the lines
    bus_py_import(other, hook)
    bus_py_import(other, line)
    ingest(other)
    append_flat(other, hook)
    append_flat(other, line)
    assert ingest(other).ingested == 0
    for root in (loki, other):
        events = stored(root)
        assert [(e.type, e.source) for e in events] == [("claude_hook_Stop", "claude_cli"), ("task", "runner")]
        assert events[1].payload == {"action": "claim", "task_id": "t1"}


# ------------------------------------------------------------------------------------------------ drop box


def test_every_lokilog_client_marks_its_drop_box_files_and_only_those_are_archived(loki):
    event = Event(seq=0, id="0123456789abcdef0123", type="task", source="cli", timestamp="2026-02-21T10:00:00.000Z",
                  version="1.0", payload={"action": "x"})
    ours = drop(loki / "events" / "pending", event)
    assert ours.name == "2026-02-21T10-00-00.000Z_0123456789abcdef0123.lokilog.json"
    theirs = write_pending(loki, nested("a1b2c3d4", "task", "runner", "2026-02-21T10:00:01.000Z", {"action": "y"}))
    holder = subprocess.Popen(["flock", "-x", str(loki / "events" / "log.lock"), "-c", "read line"], stdin=subprocess.PIPE, text=True)
    try:
        time.sleep(0.2)  # the lock is held: the bash emitter falls back to the drop box
        bash = subprocess.run(["bash", str(REPO / "scripts" / "lokilog-emit"), "task", "hook", "action=z"],
                              env=subprocess_env(LOKI_DIR=str(loki), LOKI_EVENTS_LOCK_TIMEOUT="0.1"),
                              capture_output=True, text=True, timeout=30)
    finally:
        holder.communicate("\n", timeout=10)
    assert bash.returncode == 0, bash.stderr
    names = sorted(p.name for p in (loki / "events" / "pending").glob("*.json"))
    assert sum(n.endswith(".lokilog.json") for n in names) == 2, names
    assert ingest(loki).ingested == 3
    assert [p.name for p in (loki / "events" / "pending").glob("*.json")] == [theirs.name]
    assert ours.name in {p.name for p in (loki / "events" / "archive").glob("*.json")}


# --------------------------------------------------------------------------------------- cost and records


def test_efficiency_records_become_token_usage_and_survive_their_deletion(loki, cli):
    efficiency_file(loki, 1, cost_usd=0.25)                              # reported
    efficiency_file(loki, 2, cost_usd=0)                                 # a real zero
    efficiency_file(loki, 3, cost_usd=None)                              # unknown: priced from tokens
    efficiency_file(loki, 4, cost_usd=None, model="house-model")         # unknown, and no price: unknown
    efficiency_file(loki, 5, cost_usd=None, input_tokens=0, output_tokens=0)  # unmeasured
    assert ingest(loki).ingested == 5
    assert ingest(loki).ingested == 0  # once per content
    clear_efficiency(loki)  # run.sh at the next run start
    assert ingest(loki).ingested == 0
    usage = by_type(loki, "metric")
    assert [e.payload["iteration"] for e in usage] == [1, 2, 3, 4, 5]
    assert [e.payload.get("measured") for e in usage] == [True, True, True, True, False]
    assert "cost_usd" not in usage[2].payload and usage[1].payload["cost_usd"] == 0
    result = cli("cost", "--by", "model", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    rows = {r["model"]: r for r in out["rows"]}
    sonnet = rows["claude-sonnet-4"]
    assert (sonnet["events"], sonnet["input_tokens"], sonnet["output_tokens"]) == (4, 3000, 600)
    # 0.25 reported + 0 reported + iteration 3 priced (1000 in x $3/M + 200 out x $15/M = 0.006); iteration 5 unknown.
    assert sonnet["usd"] == "0.256" and sonnet["unknown_cost_events"] == 1
    assert rows["house-model"]["usd"] is None


def test_trust_cost_history_managed_and_proof_records_are_events_of_their_own_once(loki):
    trust_event(loki, "run_start", "run-1", 0, "2026-02-21T10:00:00Z")
    trust_event(loki, "council_vote", "run-1", 2, "2026-02-21T10:02:00Z", vote="approve")
    trust_event(loki, "council_vote", "run-1", 2, "2026-02-21T10:02:00Z", vote="approve")  # the same vote again: two
    cost_history(loki, 1771668000.5, 1.25, "claude-sonnet-4")
    cost_history(loki, 1771669000.0, None, None)
    managed_event(loki, "2026-02-21T10:03:00Z", "policy_unevaluable", {"policy": "budget"})
    proof(loki, "run-1", "2026-02-21T10:10:00Z", None)
    assert ingest(loki).ingested == 7
    trust_event(loki, "gate_failure", "run-1", 3, "2026-02-21T10:04:00Z", gate="unit")
    assert ingest(loki).ingested == 1
    assert ingest(loki).ingested == 0
    assert [e.payload["action"] for e in by_type(loki, "trust")] == ["run_start", "council_vote", "council_vote", "gate_failure"]
    runs = by_type(loki, "cost")
    assert [(e.payload["usd"], e.timestamp) for e in runs] == [(1.25, "2026-02-21T10:00:00.500Z"), (None, "2026-02-21T10:16:40.000Z")]
    [managed] = by_type(loki, "managed")
    assert managed.payload["action"] == "policy_unevaluable" and managed.payload["payload"] == {"policy": "budget"}
    [recorded] = by_type(loki, "proof")
    assert recorded.payload["run_id"] == "run-1" and recorded.payload["cost"]["cost_available"] is False
    assert "facts" not in recorded.payload and recorded.payload["sections"] == ["assessments", "facts", "honesty"]


# ------------------------------------------------------------------------------------------------- audit


def loki_mode_chain(loki: Path) -> None:
    js_audit_record(loki, "agent-1", "file_write", "src/app.js", "implement feature", {})
    js_audit_record(loki, "agent-1", "model_substituted", None, None, {"pinned": "opus", "dispatched": "sonnet"})
    js_crosslink(loki, "ab" * 32, 4)
    js_audit_record(loki, "run.sh", "audit_manifest_link", None, None, {"manifest": "sha256:" + "ef" * 32})
    js_witness(loki, "ab" * 32, 4)


def test_loki_mode_audit_chain_is_verified_in_its_own_format_and_never_written(loki, cli):
    loki_mode_chain(loki)
    before = (loki / "audit" / "audit.jsonl").read_bytes(), (loki / "audit" / "witness.jsonl").read_bytes()
    with FileEventLog(loki) as log:
        log.append("task", "cli", {"action": "start"})
    assert cli("rebuild").exit_code == 0
    assert cli("audit", "verify").exit_code == 0  # lokilog's own chain, in its own place
    legacy = cli("audit", "verify", "--legacy", "--json")
    assert legacy.exit_code == 0, legacy.output
    result = json.loads(legacy.output)
    assert (result["valid"], result["entries"], result["crosslinks"], result["manifestLinks"]) == (True, 4, 1, 1)
    assert result["witness"]["witnesses"] == 1
    assert ((loki / "audit" / "audit.jsonl").read_bytes(), (loki / "audit" / "witness.jsonl").read_bytes()) == before
    lines = before[0].splitlines(keepends=True)
    (loki / "audit" / "audit.jsonl").write_bytes(b"".join([lines[0], lines[1].replace(b"sonnet", b"haiku"), *lines[2:]]))
    broken = cli("audit", "verify", "--legacy", "--json")
    assert broken.exit_code == 1 and json.loads(broken.output)["brokenAt"] == 1
    forged = json.loads(lines[2])
    forged["metadata"]["dashboardTipHash"] = "00" * 32  # a tampered anchor, even with its hash recomputed
    (loki / "audit" / "audit.jsonl").write_bytes(lines[0] + lines[1] + _rehash(forged) + b"\n")
    assert "cross-link" in json.loads(cli("audit", "verify", "--legacy", "--json").output)["error"]


def _rehash(entry: dict) -> bytes:
    import hashlib

    body = {k: v for k, v in entry.items() if k != "hash"}
    entry["hash"] = "sha256:" + hashlib.sha256(json.dumps(body, separators=(",", ":")).encode()).hexdigest()
    return json.dumps(entry, separators=(",", ":")).encode()


def test_a_lokilog_chain_in_the_old_place_moves_automatically_and_still_verifies(loki, cli):
    from projections.audit.trail import chain_head
    from projections.audit.writer import sync_chain

    with FileEventLog(loki) as log:
        for i in range(4):
            log.append("task", "runner", {"action": "claim", "task_id": f"t{i}"})
    sync_chain(loki)
    head = chain_head(loki)
    new = loki / "lokilog" / "audit"
    shutil.move(str(new), str(loki / "audit"))  # where an older lokilog kept it
    assert (loki / "audit" / "head.json").exists() and not new.exists()
    verified = cli("audit", "verify", "--json")
    assert verified.exit_code == 0, verified.output
    assert chain_head(loki) == head
    assert sorted(p.name for p in new.iterdir() if p.name != "audit.lock") == ["audit.jsonl", "head.json"]
    assert not [p for p in (loki / "audit").iterdir()]  # nothing of lokilog's left beside Loki Mode's files


# ------------------------------------------------------------------------------------------- checkpoints


def test_run_sh_checkpoints_are_listed_with_their_own_time_and_task_and_latest_is_by_that_time(loki):
    from commands.checkpoints.rollback import rollback
    from commands.checkpoints.lifecycle import list_checkpoints

    newest = run_sh_checkpoint(loki, 7, 1771669000, "wire the cache")
    run_sh_checkpoint(loki, 3, 1771668000, "write the parser")  # older, indexed after the newer one
    (loki / "state").mkdir(exist_ok=True)
    (loki / "state" / "orchestrator.json").write_text(json.dumps({"iteration": 9}))
    found = {r["id"]: r for r in list_checkpoints(loki)}
    assert found[newest]["created_at"] == "2026-02-21T10:16:40Z" and found[newest]["message"] == "wire the cache"
    assert found["cp-3-1771668000"]["created_at"] == "2026-02-21T10:00:00Z"
    result = rollback(loki, "latest")
    assert result.checkpoint_id == newest
    assert json.loads((loki / "state" / "orchestrator.json").read_text()) == {"iteration": 7}


# -------------------------------------------------------------------------------- a subscriber beside us


def _stop_watch(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    return out


def test_a_loki_mode_subscriber_beside_ingest_watch_both_see_every_event_once(loki, tmp_path):
    loki.mkdir(parents=True)
    seen_file, stop_file = tmp_path / "seen.txt", tmp_path / "stop"
    subscriber = subprocess.Popen([sys.executable, str(REPO / "tests" / "fixtures" / "loki_subscriber.py"),
                                   str(loki), str(seen_file), str(stop_file)])
    watch = subprocess.Popen([sys.executable, "-m", "commands", "ingest", "--watch", "--interval", "0.02", "--json"],
                             env=subprocess_env(LOKI_DIR=str(loki)), stdout=subprocess.PIPE, text=True)
    ids = []
    try:
        for n in range(120):  # bounded: 120 events, a few ms apart
            event_id = f"{n:08x}"
            if n % 2:
                run_sh_pending(loki, event_id, "iteration_complete", f"2026-02-21T10:{n // 60:02d}:{n % 60:02d}Z", {"n": str(n)})
            else:
                write_pending(loki, nested(event_id, "task", "runner", f"2026-02-21T11:00:{n % 60:02d}.{n:03d}Z", {"n": n}))
            ids.append(event_id)
            time.sleep(0.003)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(stored(loki)) < len(ids):
            time.sleep(0.05)
    finally:
        stop_file.write_text("")
        subscriber.wait(timeout=90)
        _stop_watch(watch)
    assert subscriber.returncode == 0
    seen = seen_file.read_text().split()
    assert sorted(seen) == sorted(ids)  # Loki Mode's subscriber lost nothing and saw nothing twice
    events = [e for e in stored(loki) if e.type != "ingest"]  # a refusal of a file caught mid-move is recorded
    assert sorted(str(e.payload["n"]) for e in events) == sorted(str(n) for n in range(120))  # lokilog: each once
    assert not list((loki / "events" / "pending").glob("*.json"))  # the subscriber moved every file itself


# ---------------------------------------------------------------------------------------- the whole drop-in


def test_dropped_into_a_loki_mode_9_48_directory(loki, tmp_path):
    """ingest && rebuild exit 0; each event once with its source and payload; cost after deletion;
    Loki Mode's audit byte for byte and valid; a Loki Mode subscriber beside lokilog loses nothing."""
    run_sh_pending(loki, "0a0b0c0d", "session_start", "2026-02-21T10:00:00Z", {"provider": "claude"})
    hook = hook_line(loki, "PostToolUse", "2026-02-21T10:00:01.000001Z", {"tool": "Edit"})
    bus_py_import(loki, hook)
    emitted = nested("e1e2e3e4", "task", "runner", "2026-02-21T10:00:02.000Z", {"action": "claim", "task_id": "t1"})
    write_pending(loki, emitted)
    append_flat(loki, flat_line(emitted["timestamp"], "task", {"source": "runner", **emitted["payload"]}))  # emit.sh's twin
    append_flat(loki, flat_line("2026-02-21T10:00:03Z", "policy_unevaluable", {"policy": "cost"}))
    efficiency_file(loki, 1, cost_usd=0.5)
    efficiency_file(loki, 2, cost_usd=None)
    trust_event(loki, "run_start", "run-9", 0, "2026-02-21T10:00:00Z")
    cost_history(loki, 1771668000.0, 0.5, "claude-sonnet-4")
    managed_event(loki, "2026-02-21T10:00:04Z", "sync", {"ok": True})
    proof(loki, "run-9", "2026-02-21T10:30:00Z", 0.5)
    run_sh_checkpoint(loki, 1, 1771668000, "start")
    loki_mode_chain(loki)
    (loki / "metrics" / "budget.json").write_text(json.dumps({"limit": 100.0, "budget_limit": 100.0, "budget_used": 0.5,
                                                              "created_at": "2026-02-21T10:00:00Z"}))
    audit_before = {p.name: p.read_bytes() for p in (loki / "audit").iterdir()}

    first = run_lokilog("ingest", "--json", loki=loki)
    assert first.returncode == 0, first.stdout + first.stderr
    assert run_lokilog("rebuild", loki=loki).returncode == 0
    assert json.loads(run_lokilog("ingest", "--json", loki=loki).stdout)["ingested"] == 0

    events = stored(loki)
    keyed = [(e.type, e.source, json.dumps(e.payload, sort_keys=True)) for e in events]
    assert len(keyed) == len(set(keyed))  # every event once
    assert ("session", "runner", json.dumps({"action": "start", "provider": "claude"}, sort_keys=True)) in keyed
    assert ("claude_hook_PostToolUse", "claude_cli", json.dumps({"tool": "Edit"})) in keyed
    assert sum(e.type == "task" and e.payload.get("task_id") == "t1" for e in events) == 1
    assert {e.type for e in events} >= {"policy_unevaluable", "metric", "trust", "cost", "managed", "proof"}

    clear_efficiency(loki)
    cost = run_lokilog("cost", "--json", loki=loki)
    assert cost.returncode == 0, cost.stderr
    total = json.loads(cost.stdout)["total"]
    assert (total["input_tokens"], total["output_tokens"]) == (2000, 400)
    assert total["usd"] == "0.506"  # 0.5 reported + iteration 2 priced from its tokens

    listed = run_lokilog("checkpoint", "list", "--json", loki=loki)
    assert listed.returncode == 0, listed.stderr
    [checkpoint] = json.loads(listed.stdout)
    assert (checkpoint["id"], checkpoint["created_at"], checkpoint["message"]) == ("cp-1-1771668000", "2026-02-21T10:00:00Z", "start")

    assert {p.name: p.read_bytes() for p in (loki / "audit").iterdir()} == audit_before
    assert run_lokilog("audit", "verify", "--legacy", loki=loki).returncode == 0
    assert run_lokilog("audit", "verify", loki=loki).returncode == 0

    # Loki Mode's own subscriber, run now, still finds every one of its pending files.
    pending = sorted(p.name for p in (loki / "events" / "pending").glob("*.json"))
    assert len(pending) == 3
    from tests.legacy_fixtures import loki_subscriber_take

    seen: list[str] = []
    count = len(stored(loki))
    assert loki_subscriber_take(loki, seen) == 3 and len(set(seen)) == 3
    assert run_lokilog("ingest", "--json", loki=loki).returncode == 0
    assert len(stored(loki)) == count  # moving them to archive/ stores nothing twice


# ------------------------------------------------------------------------------------------- properties

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.text(max_size=8))
_bodies = st.dictionaries(st.text(min_size=1, max_size=6).filter(lambda k: k != "source"), _scalars, max_size=4)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_bodies, source=st.sampled_from([None, "runner", "claude_cli"]), hook=st.booleans(), copy_first=st.booleans())
def test_a_line_and_its_bus_py_copy_are_always_one_event(tmp_path_factory, body, source, hook, copy_first):
    from eventlog.legacy.parse import import_copy_id, parse_file, parse_flat
    from tests.legacy_fixtures import import_copy_id as fixture_id

    if hook:
        line = json.dumps({"type": "claude_hook_Stop", "source": source or "claude_cli",
                           "timestamp": "2026-02-21T10:00:00.000001Z", "payload": body}).encode()
    else:
        data = {**body, "source": source} if source else body
        line = flat_line("2026-02-21T10:00:00Z", "task", data).rstrip(b"\n")
    loki = tmp_path_factory.mktemp("copy") / ".loki"
    copy = bus_py_import(loki, line + b"\n")
    copy_obj = json.loads(copy.read_text())
    assert import_copy_id(copy_obj["timestamp"], copy_obj["type"], copy_obj["payload"]) == fixture_id(
        copy_obj["timestamp"], copy_obj["type"], copy_obj["payload"]) == copy_obj["id"]
    assert parse_file(copy.name, copy.read_bytes()).key == parse_flat(line).key
    if copy_first:
        ingest(loki)
        append_flat(loki, line + b"\n")
    else:
        copy.unlink()
        append_flat(loki, line + b"\n")
        ingest(loki)
        bus_py_import(loki, line + b"\n")
    ingest(loki)
    [event] = stored(loki)
    assert event.payload == body  # the body as written, whichever copy was stored
    if source:
        assert event.source == source


@settings(max_examples=60, deadline=None)
@given(costs=st.lists(st.one_of(st.none(), st.integers(0, 10**4).map(lambda c: c / 1000)), min_size=1, max_size=8))
def test_reported_costs_sum_exactly_and_unknown_is_never_zero(costs):
    from decimal import Decimal

    from projections.cost import CostProjection
    from projections.cost.report import total
    from projections.cost.pricing import parse_price_table

    projection, state = CostProjection(), CostProjection().initial()
    for n, cost in enumerate(costs):
        payload = {"action": "token_usage", "model": "house-model", "input_tokens": 10, "output_tokens": 1}
        if cost is not None:
            payload["cost_usd"] = cost
        state = projection.apply(state, Event(seq=n + 1, id=f"e{n}", type="metric", source="runner",
                                              timestamp="2026-02-21T10:00:00.000Z", version="1.0", payload=payload))
    tally = total(state, parse_price_table(None))
    reported = [Decimal(repr(c)) for c in costs if c is not None]
    assert tally.usd == sum(reported, Decimal(0))
    assert tally.unknown_events == costs.count(None)  # house-model has no price: unknown, not $0
    if not reported:
        assert tally.to_dict(())["usd"] is None  # nothing could be priced: unknown, never "0"


# ------------------------------------------------------------------------------------------- edge cases


def test_an_efficiency_file_seen_half_written_is_reported_then_stored_once_whole(loki):
    path = efficiency_file(loki, 1)
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])  # run.sh writes it in place: a reader can see half
    report = ingest(loki)
    assert report.ingested == 0 and "not valid JSON" in report.bad[0].reason
    path.write_bytes(whole)
    assert (ingest(loki).ingested, ingest(loki).ingested) == (1, 0)


def test_legacy_verify_accepts_older_bare_digests_and_js_numbers(loki, cli):
    import hashlib

    from tests.legacy_fixtures import js_stringify

    entry = {"seq": 0, "timestamp": "2026-02-21T10:00:00.000Z", "who": "agent-1", "what": "metric",
             "where": None, "why": None, "metadata": {"ratio": 0.1, "tiny": 1e-7, "n": 3, "ünï": "cödé"},
             "previousHash": "GENESIS"}
    body = js_stringify(entry).replace("1e-07", "1e-7")  # JavaScript's spelling of 1e-7
    entry_line = body[:-1] + ',"hash":"' + hashlib.sha256(body.encode()).hexdigest() + '"}'
    (loki / "audit").mkdir(parents=True)
    (loki / "audit" / "audit.jsonl").write_text(entry_line + "\n")
    result = cli("audit", "verify", "--legacy", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["entries"] == 1
    assert cli("audit", "verify", "--legacy").output.startswith("Loki Mode audit chain valid: 1 entries")
    (loki / "audit" / "witness.jsonl").write_text('{"type":"loki-unified-audit-witness","agentEntries":1,'
                                                  '"agentTipHash":"sha256:' + "0" * 64 + '"}\n')
    witness = json.loads(cli("audit", "verify", "--legacy", "--json").output)
    assert not witness["valid"] and "witness line 0" in witness["error"]


def test_the_old_behaviour_is_one_setting_away(loki, monkeypatch):
    path = run_sh_pending(loki, "0f0f0f0f", "session_end", "2026-02-21T10:00:00Z", {"status": "ok"})
    monkeypatch.setenv("LOKI_EVENTS_ARCHIVE_LEGACY_FILES", "1")
    assert ingest(loki).ingested == 1
    assert not path.exists() and (loki / "events" / "archive" / path.name).exists()


def test_lokilog_cost_alone_reads_the_efficiency_records_with_pending_empty(loki, cli):
    efficiency_file(loki, 1, cost_usd=0.125)
    first = json.loads(cli("cost", "--json").output)["total"]  # no explicit ingest: readers ingest first
    clear_efficiency(loki)
    again = json.loads(cli("cost", "--json").output)["total"]
    assert first["usd"] == again["usd"] == "0.125" and again["input_tokens"] == 1000
