"""Checkpoints on real files: create, modify, rollback, undo; content addressing; retention."""
from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from commands.checkpoints.capture import CAPTURE_ROOTS, is_excluded
from commands.checkpoints.rollback import rollback
from commands.checkpoints.store import CheckpointNotFoundError, CheckpointStore
from commands.checkpoints.lifecycle import catalogue, collect_garbage, create, list_checkpoints, prune
from eventlog import FileEventLog
from projections.checkpoints import CheckpointProjection
from projections.engine import rebuild


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def tree(root: Path) -> dict:
    """Everything a checkpoint manages, as comparable data."""
    found = {}
    for name in CAPTURE_ROOTS:
        _walk(root, name, found)
    return found


def _walk(root: Path, rel: str, found: dict) -> None:
    path = root / rel
    if is_excluded(rel) or not os.path.lexists(path):
        return
    if path.is_symlink():
        found[rel] = ("link", os.readlink(path))
    elif path.is_dir():
        found[rel] = ("dir",)
        for child in sorted(os.listdir(path)):
            _walk(root, f"{rel}/{child}", found)
    else:
        found[rel] = ("file", path.read_bytes(), path.stat().st_mode & 0o777)


def seed(loki: Path) -> None:
    write(loki, "session.json", '{"id": "s1"}')
    write(loki, "CONTINUITY.md", "# handoff\n")
    write(loki, "queue/pending.json", '["t1"]')
    write(loki, "state/orchestrator.json", '{"phase": "ACT"}')


def test_rollback_restores_the_checkpoint_and_its_undo_restores_the_present(loki):
    seed(loki)
    first = create(loki, "first").manifest
    before = tree(loki)
    write(loki, "queue/pending.json", '["t1", "t2"]')
    write(loki, "queue/in-progress.json", '["t9"]')
    (loki / "CONTINUITY.md").unlink()
    write(loki, "autonomy-state.json", "{}")
    present = tree(loki)

    done = rollback(loki, first.id)
    assert tree(loki) == before
    assert sorted(done.outcome.removed) == ["autonomy-state.json", "queue/in-progress.json"]
    assert "CONTINUITY.md" in done.outcome.restored and not done.outcome.errors
    assert done.to_seq == first.log_seq
    assert done.undo_command == f"lokilog rollback {done.pre_rollback_checkpoint}"

    rollback(loki, done.pre_rollback_checkpoint)
    assert tree(loki) == present


def test_rollback_records_an_event_with_the_agreed_payload(loki):
    seed(loki)
    with FileEventLog(loki) as log:
        log.append("task", "runner", {"action": "created", "task_id": "t1"})
    made = create(loki, "m").manifest
    done = rollback(loki, made.id)
    with FileEventLog(loki) as log:
        events = [e for e in log.read() if e.type == "checkpoint"]
    created, pre, rolled = events
    assert created.payload["action"] == "created" and created.payload["log_seq"] == 1
    assert pre.payload["kind"] == "pre-rollback"
    assert rolled.payload["action"] == "rolled_back"
    assert rolled.payload["checkpoint_id"] == made.id and rolled.payload["to_seq"] == 1
    assert rolled.payload["pre_rollback_checkpoint"] == done.pre_rollback_checkpoint


def test_identical_contents_are_stored_once(loki):
    seed(loki)
    write(loki, "queue/copy.json", '["t1"]')  # same bytes as queue/pending.json
    create(loki, "a")
    create(loki, "b")
    objects = list(CheckpointStore(loki).iter_objects())
    assert len(objects) == 4  # session, continuity, queue (shared by two paths), orchestrator


def test_rollback_latest_skips_pre_rollback_snapshots(loki):
    seed(loki)
    first = create(loki, "a").manifest
    second = create(loki, "b").manifest
    assert rollback(loki, "latest").checkpoint_id == second.id
    assert rollback(loki, "latest").checkpoint_id == second.id
    assert first.id != second.id


def test_rollback_to_an_unknown_checkpoint_changes_nothing(loki):
    seed(loki)
    before = tree(loki)
    with pytest.raises(CheckpointNotFoundError, match="no-such"):
        rollback(loki, "no-such")
    assert tree(loki) == before
    assert not (loki / "state" / "checkpoints" / ".rollback-journal.json").exists()


def test_checkpoint_store_and_event_log_are_never_restored(loki):
    seed(loki)
    first = create(loki, "a").manifest
    create(loki, "b")
    rollback(loki, first.id)
    assert len(list_checkpoints(loki)) == 3  # a, b and the pre-rollback one survive
    with FileEventLog(loki) as log:
        assert log.head_seq == 4


def test_symlinks_are_captured_as_links_and_never_followed(loki, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    seed(loki)
    os.symlink(outside, loki / "queue" / "escape.json")
    made = create(loki, "a").manifest
    entry = next(e for e in made.entries if e.path == "queue/escape.json")
    assert entry.kind == "symlink" and entry.sha256 is None
    (loki / "queue" / "escape.json").unlink()
    rollback(loki, made.id)
    assert os.readlink(loki / "queue" / "escape.json") == str(outside)
    assert outside.read_text() == "secret"


def test_restore_never_writes_through_a_symlinked_directory(loki, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    seed(loki)
    made = create(loki, "a").manifest
    shutil.rmtree(loki / "queue")
    os.symlink(outside, loki / "queue")
    rollback(loki, made.id)
    assert list(outside.iterdir()) == []
    assert (loki / "queue").is_dir() and not (loki / "queue").is_symlink()
    assert (loki / "queue" / "pending.json").read_text() == '["t1"]'


def test_view_is_rebuilt_byte_for_byte(loki):
    seed(loki)
    create(loki, "a")
    rollback(loki, "latest")
    index = loki / "state" / "checkpoints" / "index.jsonl"
    catalogue(loki)
    first = index.read_bytes()
    index.unlink()
    rebuild(loki, [CheckpointProjection()])
    assert index.read_bytes() == first
    rebuild(loki, [CheckpointProjection()])
    assert index.read_bytes() == first
    assert len(first.splitlines()) == 2


def test_prune_keeps_the_newest_and_the_latest_pre_rollback_snapshot(loki):
    seed(loki)
    ids = [create(loki, f"c{i}").manifest.id for i in range(3)]
    pre = rollback(loki, ids[0]).pre_rollback_checkpoint
    ids += [create(loki, f"d{i}").manifest.id for i in range(2)]
    result = prune(loki, keep=1)
    assert pre in result.kept and ids[-1] in result.kept
    assert sorted(result.pruned) == sorted(ids[:4])
    remaining = [r["id"] for r in list_checkpoints(loki)]
    assert sorted(remaining) == sorted([pre, ids[-1]])
    assert collect_garbage(CheckpointStore(loki)) == 0
    lines = (loki / "state" / "checkpoints" / "index.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [pre, ids[-1]]
    rollback(loki, pre)  # the protected snapshot still restores


def test_prune_by_age_spares_recent_checkpoints(loki):
    seed(loki)
    made = create(loki, "old").manifest
    later = datetime.now(timezone.utc) + timedelta(days=10)
    assert prune(loki, older_than=timedelta(days=30), now=later).pruned == []
    assert prune(loki, older_than=timedelta(days=7), now=later, dry_run=True).pruned == [made.id]
    assert CheckpointStore(loki).exists(made.id)


def _create_many(loki: str, count: int, queue) -> None:
    queue.put([create(Path(loki), "same second").manifest.id for _ in range(count)])


def test_concurrent_creation_never_collides(loki):
    seed(loki)
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    workers = [ctx.Process(target=_create_many, args=(str(loki), 4, queue)) for _ in range(3)]
    for worker in workers:
        worker.start()
    ids = [i for _ in workers for i in queue.get(timeout=60)]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert len(set(ids)) == 12
    assert sorted(CheckpointStore(loki).ids_on_disk()) == sorted(ids)
    assert sorted(r["id"] for r in list_checkpoints(loki)) == sorted(ids)


# ------------------------------------------------------------------- property

_paths = st.sampled_from([
    "session.json", "CONTINUITY.md", "autonomy-state.json", "queue/pending.json", "queue/done/a.json",
    "state/orchestrator.json", "state/deep/x.json",
])
_trees = st.dictionaries(_paths, st.one_of(st.binary(max_size=40), st.just(None)), max_size=6)


def _apply(root: Path, changes: dict) -> None:
    for rel, data in changes.items():
        path = root / rel
        if data is None:
            if path.exists():
                path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=_trees, change=_trees, link=st.booleans())
def test_rollback_of_a_rollback_returns_to_the_pre_rollback_state_exactly(tmp_path, start, change, link):
    loki = Path(tempfile.mkdtemp(dir=tmp_path)) / ".loki"
    loki.mkdir()
    _apply(loki, start)
    made = create(loki, "start").manifest
    at_checkpoint = tree(loki)
    _apply(loki, change)
    if link:
        (loki / "queue").mkdir(exist_ok=True)
        os.symlink("pending.json", loki / "queue" / "link.json")
    present = tree(loki)
    done = rollback(loki, made.id)
    assert not done.outcome.errors
    assert tree(loki) == at_checkpoint
    rollback(loki, done.pre_rollback_checkpoint)
    assert tree(loki) == present


class _TaskCount:
    """A projection whose view lives under state/, so a restore puts back a stale copy of it."""

    name = "task-count"
    version = 1
    state_type = int
    rewindable = True

    def initial(self) -> int:
        return 0

    def apply(self, state: int, event) -> int:
        return state + (event.type == "task")

    def write_views(self, state: int, loki_dir: Path) -> None:
        (Path(loki_dir) / "state" / "task-count.json").write_text(json.dumps(state))


def test_rollback_rewrites_the_views_a_restore_put_back(loki, monkeypatch):
    import projections.registry

    from projections.engine import catch_up

    monkeypatch.setattr(projections.registry, "all_projections", lambda: [CheckpointProjection(), _TaskCount()])
    seed(loki)
    with FileEventLog(loki) as log:
        log.append("task", "runner", {"action": "created"})
    catch_up(loki, _TaskCount())
    made = create(loki, "one task").manifest
    with FileEventLog(loki) as log:
        log.append("task", "runner", {"action": "created"})
    catch_up(loki, _TaskCount())
    rollback(loki, made.id)
    view = json.loads((loki / "state" / "task-count.json").read_text())
    assert view == catch_up(loki, _TaskCount(), write_views=False).state
