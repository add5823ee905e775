"""Many machines, one view: `watch --from` and `replay --from` fold a real stream fed by three bridges."""
from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

pytest.importorskip("nats")

from conftest import run_lokilog  # noqa: E402
from eventlog import FileEventLog, NewEvent  # noqa: E402
from projections.engine import catch_up  # noqa: E402
from projections.audit.files import audit_dir  # noqa: E402
from projections.registry import all_projections  # noqa: E402
from subscribers.nats.identity import origin_id  # noqa: E402
from subscribers.nats.pull import ORIGIN_FIELD  # noqa: E402
from tests.nats_helpers import (  # noqa: E402,F401 (nats_server is a fixture)
    bridge_once, finish, nats_server, spawn_lokilog, stream_order, wait_for,
)

#: The views that must be equal: run state and the cost ledger; with them the audit chain and metrics.
VIEWS = ("state/run/summary.json", "state/run/tasks.json", "cost/summary.json")


def machine_events(tag: str, n: int) -> list[NewEvent]:
    """A small run: tasks that start and complete, token usage (cost), and a session."""
    out = [NewEvent(type="session", source="runner", payload={"action": "start", "session_id": f"s-{tag}"})]
    for i in range(n):
        task = f"{tag}-{i}"
        out.append(NewEvent(type="task", source="runner", stream=f"task-{task}",
                            payload={"action": "start", "task_id": task}))
        out.append(NewEvent(type="metric", source="runner", payload={
            "action": "token_usage", "model": "claude-sonnet-4", "provider": "anthropic", "task_id": task,
            "session_id": f"s-{tag}", "input_tokens": 1000 + i, "output_tokens": 200 + i}))
        if i % 3:
            out.append(NewEvent(type="task", source="runner", stream=f"task-{task}",
                                payload={"action": "complete", "task_id": task}))
    return out


def feed(dirs: list[Path], url: str, n: int) -> None:
    for i, d in enumerate(dirs):
        FileEventLog(d).append_many(machine_events(f"{d.parent.name}-{n}", n + i))
        bridge_once(d, url)


def oracle_of(dirs: list[Path], url: str, root: Path) -> Path:
    """The union of the local logs in stream order (each event as its own log holds it, plus its origin)."""
    local = {origin_id(d): {e.seq: e for e in FileEventLog(d).read(ingest=False)} for d in dirs}
    drafts = []
    for stream_seq, origin, seq, host in stream_order(url):
        e = local[origin][seq]
        drafts.append(NewEvent(
            type=e.type, source=e.source, payload=e.payload, id=e.id, timestamp=e.timestamp, stream=e.stream,
            correlation_id=e.correlation_id, causation_id=e.causation_id, version=e.version,
            extra={**e.extra, ORIGIN_FIELD: {"host": host, "id": origin, "seq": seq, "stream_seq": stream_seq}}))
    FileEventLog(root).append_many(drafts)
    for projection in all_projections():
        catch_up(root, projection)
    return root


def view_bytes(root: Path) -> dict[str, bytes]:
    files = {name: (root / name).read_bytes() for name in VIEWS}
    for tree in (audit_dir(root), root / "metrics"):
        files.update({str(p.relative_to(root)): p.read_bytes() for p in sorted(tree.rglob("*"))
                      if p.is_file() and not p.name.endswith(".lock")})
    return files


def head(root: Path) -> int:
    return FileEventLog(root).head_seq if (root / "events").exists() else 0


def test_three_machines_one_live_view_equals_the_fold_of_their_union(nats_server, tmp_path):
    dirs = [tmp_path / f"m{i}" / ".loki" for i in range(3)]
    feed(dirs, nats_server.url, 20)
    view = tmp_path / "view"
    watch = spawn_lokilog(view, "watch", "--from", nats_server.url, "--poll-interval", "0.2")
    try:
        total = len(stream_order(nats_server.url))
        assert wait_for(lambda: head(view) == total, 30)
        # Kill -9 while more arrives; the restart resumes from the view's own log.
        feed(dirs, nats_server.url, 200)
        assert wait_for(lambda: head(view) > total, 30)
        watch.kill()
        finish(watch)
        watch = spawn_lokilog(view, "watch", "--from", nats_server.url, "--poll-interval", "0.2")
        feed(dirs, nats_server.url, 7)
        total = len(stream_order(nats_server.url))
        assert wait_for(lambda: head(view) == total, 30)
        assert wait_for(lambda: json.loads((view / VIEWS[0]).read_text())["seq"] == total, 30)
    finally:
        watch.send_signal(signal.SIGTERM)
        rc, err = finish(watch)
    assert rc == 0, err

    mirrored = list(FileEventLog(view).read(ingest=False))
    assert [e.extra[ORIGIN_FIELD]["stream_seq"] for e in mirrored] == [s for s, *_ in stream_order(nats_server.url)]
    assert len({e.id for e in mirrored}) == len(mirrored)
    oracle = oracle_of(dirs, nats_server.url, tmp_path / "oracle")
    got, want = view_bytes(view), view_bytes(oracle)
    assert "lokilog/audit/audit.jsonl" in got and "metrics/metrics.prom" in got
    assert got == want
    status = json.loads(run_lokilog("status", "--json", loki=view).stdout)
    assert status["task_counts"]["completed"] == sum(1 for e in mirrored if e.payload.get("action") == "complete")
    assert run_lokilog("audit", "verify", loki=view).returncode == 0


def test_watch_once_from_and_replay_from(nats_server, tmp_path):
    dirs = [tmp_path / f"m{i}" / ".loki" for i in range(2)]
    feed(dirs, nats_server.url, 5)
    view = tmp_path / "view"
    once = run_lokilog("watch", "--once", "--json", "--from", nats_server.url + "/LOKI", loki=view)
    assert once.returncode == 0, once.stderr
    total = len(stream_order(nats_server.url))
    assert json.loads(once.stdout)["mirrored"] == total
    again = run_lokilog("watch", "--once", "--json", "--from", nats_server.url, loki=view)
    assert json.loads(again.stdout)["mirrored"] == 0

    replay = run_lokilog("replay", "--from", nats_server.url, "--json", "--type", "task", "--from-seq", "3", loki=view)
    assert replay.returncode == 0, replay.stderr
    lines = [json.loads(line) for line in replay.stdout.splitlines()]
    assert lines and all(e["type"] == "task" and e[ORIGIN_FIELD]["stream_seq"] >= 3 for e in lines)
    local = {origin_id(d): {e.seq: e.to_dict() for e in FileEventLog(d).read(ingest=False)} for d in dirs}
    for line in lines:
        origin = line.pop(ORIGIN_FIELD)
        assert line == local[origin["id"]][origin["seq"]]


def test_from_rejects_a_bad_url_and_a_directory_with_its_own_events(nats_server, tmp_path):
    bad = run_lokilog("watch", "--once", "--from", "http://127.0.0.1:1", loki=tmp_path / "v")
    assert bad.returncode == 2 and "--from" in bad.stderr and "Traceback" not in bad.stderr
    own = tmp_path / "own"
    FileEventLog(own).append(type="task", source="runner", payload={"action": "start", "task_id": "x"})
    refused = run_lokilog("watch", "--once", "--from", nats_server.url, loki=own)
    assert refused.returncode == 1 and "dedicated directory" in refused.stderr
