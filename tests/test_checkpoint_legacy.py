"""Loki Mode's checkpoints: its three id formats, directories and index records."""
from __future__ import annotations

import json
from pathlib import Path

from commands.checkpoints.rollback import rollback
from commands.checkpoints.lifecycle import list_checkpoints, repair
from eventlog import FileEventLog

LINES = [
    '{"id":"cp-3-1771668000","timestamp":"2026-02-21T10:00:00Z","iteration":3,"git_sha":"abc"}',
    '{"checkpoint_id": "cp-1771668100", "created_at": "2026-02-21T10:01:40Z", "message": "manual"}',
    '{"id":"chk-1771668200","created":"2026-02-21T10:03:20Z","description":"from the dashboard"}',
    'not json at all',
    '{"id":"../../etc","timestamp":"2026-02-21T10:00:00Z"}',
]


def put(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def loki_mode_store(loki: Path) -> Path:
    store = loki / "state" / "checkpoints"
    put(store, "cp-3-1771668000/metadata.json", '{"id":"cp-3-1771668000","iteration":3}')
    put(store, "cp-3-1771668000/state/orchestrator.json", '{"phase":"REASON"}')
    put(store, "cp-3-1771668000/queue/pending.json", '["old"]')
    put(store, "cp-3-1771668000/autonomy-state.json", '{"iteration":3}')
    put(store, "cp-1771668100/session.json", '{"manual":true}')
    put(store, "cp-1771668100/memory/notes.json", "{}")
    put(store, "chk-1771668200/dashboard-state.json", '{"tab":"tasks"}')
    put(store, "chk-1771668200/worktree-snapshot.txt", "0123456789abcdef0123456789abcdef01234567\n")
    put(store, "cp-9-1771669999/metadata.json", '{"timestamp":"2026-02-21T11:00:00Z","task_description":"dir only"}')
    (store / "index.jsonl").write_text("".join(line + "\n" for line in LINES))
    return store


def test_all_three_formats_are_listed_and_their_records_kept_byte_for_byte(loki):
    store = loki_mode_store(loki)
    found = {r["id"]: r for r in list_checkpoints(loki)}
    assert set(found) == {"cp-3-1771668000", "cp-1771668100", "chk-1771668200", "cp-9-1771669999"}
    assert found["cp-1771668100"]["message"] == "manual"
    assert found["chk-1771668200"]["message"] == "from the dashboard"
    assert found["cp-9-1771669999"]["message"] == "dir only"
    assert all(r["kind"] == "legacy" for r in found.values())
    index = (store / "index.jsonl").read_text().splitlines()
    for line in LINES[:3]:
        assert line in index  # Loki Mode's own records, untouched
    assert "not json at all" in index  # a line lokilog does not understand is kept, not dropped


def test_import_happens_once(loki):
    loki_mode_store(loki)
    first = repair(loki)
    assert len(first.imported) == 4
    assert repair(loki).imported == []
    with FileEventLog(loki) as log:
        assert sum(1 for e in log.read() if e.type == "checkpoint") == 4


def test_rollback_to_a_loki_mode_checkpoint_merges_and_is_undoable(loki):
    loki_mode_store(loki)
    put(loki, "queue/pending.json", '["new"]')
    put(loki, "queue/in-progress.json", '["keep me"]')
    done = rollback(loki, "cp-3-1771668000")
    assert (loki / "queue" / "pending.json").read_text() == '["old"]'
    assert (loki / "queue" / "in-progress.json").read_text() == '["keep me"]'  # merged, not replaced
    assert (loki / "state" / "orchestrator.json").read_text() == '{"phase":"REASON"}'
    assert not (loki / "metadata.json").exists()
    assert "state/checkpoints/cp-3-1771668000/metadata.json" not in done.outcome.restored
    rollback(loki, done.pre_rollback_checkpoint)
    assert (loki / "queue" / "pending.json").read_text() == '["new"]'
    assert not (loki / "state" / "orchestrator.json").exists()
    assert not (loki / "autonomy-state.json").exists()


def test_loki_mode_checkpoint_rewinds_to_the_seq_of_its_time(loki):
    loki_mode_store(loki)
    with FileEventLog(loki) as log:
        log.append("task", "runner", {"action": "created"}, timestamp="2026-02-21T09:59:00.000Z")
        log.append("task", "runner", {"action": "started"}, timestamp="2026-02-21T10:00:30.000Z")
    put(loki, "state/checkpoints/cp-3-1771668000/metadata.json", '{"timestamp":"2026-02-21T10:00:00Z"}')
    assert rollback(loki, "cp-3-1771668000").to_seq == 1


def test_a_loki_mode_git_sidecar_offers_the_code_command(loki):
    loki_mode_store(loki)
    done = rollback(loki, "chk-1771668200")
    assert done.code_command == "git restore --source=refs/loki/cp/chk-1771668200 --worktree -- ."
    assert json.loads((loki / "dashboard-state.json").read_text()) == {"tab": "tasks"}


def test_two_loki_mode_records_with_one_id_are_both_kept(loki):
    store = loki / "state" / "checkpoints"
    store.mkdir(parents=True)
    lines = ['{"id":"cp-1771668000","message":"first"}', '{"id":"cp-1771668000","message":"same second"}']
    (store / "index.jsonl").write_text("".join(line + "\n" for line in lines))
    assert [r["id"] for r in list_checkpoints(loki)] == ["cp-1771668000"]
    assert (store / "index.jsonl").read_text().splitlines() == lines
    with open(store / "index.jsonl", "a") as index:  # Loki Mode appends another one later
        index.write('{"id":"chk-1771668300"}\n')
    assert [r["id"] for r in list_checkpoints(loki)] == ["cp-1771668000", "chk-1771668300"]
    assert (store / "index.jsonl").read_text().splitlines() == lines + ['{"id":"chk-1771668300"}']


def test_latest_and_list_go_by_creation_time_not_import_order(loki):
    from commands.checkpoints.lifecycle import create

    (loki / "session.json").parent.mkdir(parents=True, exist_ok=True)
    (loki / "session.json").write_text("{}")
    ours = create(loki, "today").manifest
    loki_mode_store(loki)  # older checkpoints, imported after ours
    assert list_checkpoints(loki)[-1]["id"] == ours.id
    assert rollback(loki, "latest").checkpoint_id == ours.id
