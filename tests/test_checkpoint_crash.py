"""kill -9 during create and rollback: the next command says so and repairs; never a mix."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from commands.checkpoints.lifecycle import create, list_checkpoints
from conftest import run_lokilog, subprocess_env
from eventlog import FileEventLog
from test_checkpoints import seed, tree, write


def run_until_fault(loki: Path, point: str, *args: str) -> None:
    """Start `lokilog ARGS`, wait until it reaches ``point``, and kill -9 it there."""
    mark = loki.parent / f"fault-{point.replace(':', '-')}"
    child = subprocess.Popen(
        [sys.executable, "-m", "commands", *args],
        env=subprocess_env(LOKI_DIR=str(loki), LOKILOG_FAULT_AT=point, LOKILOG_FAULT_MARK=str(mark)),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    try:
        while not mark.exists():
            if child.poll() is not None:
                pytest.fail(f"lokilog exited before {point}: {child.stderr.read().decode()}")
            if time.monotonic() > deadline:
                pytest.fail(f"lokilog never reached {point}")
            time.sleep(0.01)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        child.stderr.close()


def checkpoint_events(loki: Path) -> list:
    with FileEventLog(loki) as log:
        return [e for e in log.read() if e.type == "checkpoint"]


def test_kill_before_commit_leaves_no_checkpoint(loki):
    seed(loki)
    run_until_fault(loki, "create:before-commit", "checkpoint", "create", "-m", "doomed")
    assert any(p.name.startswith(".tmp-") for p in (loki / "state" / "checkpoints").iterdir())
    result = run_lokilog("checkpoint", "list", loki=loki)
    assert result.returncode == 0, result.stderr
    assert "incomplete checkpoint left by a crash" in result.stderr
    assert "No checkpoints yet" in result.stdout
    assert not any(p.name.startswith(".tmp-") for p in (loki / "state" / "checkpoints").iterdir())


def test_kill_after_commit_records_the_checkpoint_exactly_once(loki):
    seed(loki)
    run_until_fault(loki, "create:before-event", "checkpoint", "create", "-m", "kept")
    assert checkpoint_events(loki) == []
    result = run_lokilog("checkpoint", "list", loki=loki)
    assert "whose event a crash had lost" in result.stderr
    assert "kept" in result.stdout
    run_lokilog("checkpoint", "list", loki=loki)
    assert len(checkpoint_events(loki)) == 1


@pytest.mark.parametrize("point", ["rollback:after-journal", "rollback:mid-restore", "rollback:before-event"])
def test_kill_during_rollback_is_finished_by_the_next_command(loki, point):
    seed(loki)
    for i in range(6):
        write(loki, f"queue/item-{i}.json", f"[{i}]")
    made = create(loki, "target").manifest
    at_checkpoint = tree(loki)
    for i in range(6):
        write(loki, f"queue/item-{i}.json", f"[{i}, 'changed']")
    write(loki, "queue/extra.json", "{}")
    present = tree(loki)

    run_until_fault(loki, point, "rollback", made.id)
    assert (loki / "state" / "checkpoints" / ".rollback-journal.json").exists()
    result = run_lokilog("checkpoint", "list", loki=loki)
    assert result.returncode == 0, result.stderr
    assert f"interrupted rollback to {made.id} was found and finished" in result.stderr
    assert tree(loki) == at_checkpoint
    rolled = [e for e in checkpoint_events(loki) if e.action == "rolled_back"]
    assert len(rolled) == 1 and rolled[0].payload["to_seq"] == made.log_seq

    pre = rolled[0].payload["pre_rollback_checkpoint"]
    undo = run_lokilog("rollback", pre, loki=loki)
    assert undo.returncode == 0, undo.stderr
    assert tree(loki) == present


def test_two_rollbacks_at_once_serialize(loki):
    seed(loki)
    made = create(loki, "a").manifest
    write(loki, "queue/pending.json", "[]")
    children = [subprocess.Popen([sys.executable, "-m", "commands", "rollback", made.id],
                                 env=subprocess_env(LOKI_DIR=str(loki)), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE) for _ in range(2)]
    for child in children:
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
    assert (loki / "queue" / "pending.json").read_text() == '["t1"]'
    assert len(list_checkpoints(loki)) == 3


def test_a_checkpoint_whose_directory_vanished_is_recorded_as_pruned(loki):
    import shutil

    seed(loki)
    gone = create(loki, "gone").manifest
    kept = create(loki, "kept").manifest
    shutil.rmtree(loki / "state" / "checkpoints" / gone.id)  # as a prune killed before its event
    result = run_lokilog("checkpoint", "list", loki=loki)
    assert "whose directories are gone as pruned" in result.stderr
    assert gone.id not in result.stdout and kept.id in result.stdout
