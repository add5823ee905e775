"""Kill -9 the watch daemon while it heals, again and again: no decision, retry or rollback twice."""
from __future__ import annotations

import collections
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import run_lokilog, subprocess_env
from commands.checkpoints.store import CheckpointStore
from eventlog import FileEventLog
from test_healing_manager import outcome

from commands.checkpoints.lifecycle import create

ENV = {"LOKI_HEALING": "1"}
#: Where the fault rounds kill: after a decision is recorded, inside a rollback (twice), and
#: after the decision again while that rollback's journal is still waiting to be finished.
FAULTS = ("healing:after-decision", "rollback:mid-restore", "rollback:before-event", "healing:after-decision")
RANDOM_KILLS = 5


def seed(loki: Path) -> None:
    with FileEventLog(loki) as log:
        for n in range(1, 6):
            log.append("task", "runner", {"action": "created", "task_id": f"t{n}"}, stream=f"t{n}")
    (loki / "queue").mkdir(parents=True, exist_ok=True)
    (loki / "queue" / "pending.json").write_text('["t1"]')
    create(loki, "good state")
    (loki / "queue" / "pending.json").write_text('["t1", "t2"]')
    with FileEventLog(loki) as log:
        log.append("task", "runner", {"action": "failed", "task_id": "t1", "error": "upstream timed out"})
        for task in ("t2", "t3", "t4"):
            for attempt in (1, 2):
                log.append("task", "runner", {"action": "failed", "task_id": task, "error": f"assert {attempt} == 0"})
        log.append("error", "runner", {"error_class": "PolicyDenied", "message": "denied by policy", "task_id": "t5"})
        for n in range(3):
            log.append("task", "runner", {"action": "failed", "task_id": "t1", "error": f"429 rate limit ({n})"})


def watcher(loki: Path, **env: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "commands", "watch", "--no-notify", "--poll-interval", "0.2"],
                            env=subprocess_env(LOKI_DIR=str(loki), **ENV, **env),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def kill(child: subprocess.Popen) -> bool:
    alive = child.poll() is None
    if alive:
        os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    return alive


def kill_at(loki: Path, point: str) -> bool:
    """Run the watcher until it pauses at ``point`` (30 s at most) and kill -9 it there."""
    mark = loki.parent / "fault-mark"
    mark.unlink(missing_ok=True)
    child = watcher(loki, LOKILOG_FAULT_AT=point, LOKILOG_FAULT_MARK=str(mark))
    deadline = time.monotonic() + 30
    while not mark.exists() and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.02)
    reached = mark.exists()
    kill(child)
    return reached


def test_kill_9_while_healing_never_acts_twice(durable_loki: Path):
    loki = durable_loki
    seed(loki)
    reached = [kill_at(loki, point) for point in FAULTS]
    assert reached == [True] * len(FAULTS), reached
    assert CheckpointStore(loki).journal.exists()  # a rollback is in flight, as intended
    rng = random.Random(23)
    for _ in range(RANDOM_KILLS):
        child = watcher(loki)
        time.sleep(rng.uniform(0.3, 1.5))
        kill(child)
    done = run_lokilog("watch", "--once", "--json", loki=loki, timeout=90, **ENV)
    assert done.returncode == 0, done.stdout + done.stderr

    found = outcome(loki)
    assert len(found["per_failure"]) == 11 and set(found["per_failure"].values()) == {1}
    assert collections.Counter(found["actions"]) == {"retry": 6, "rollback": 3, "escalated": 2}
    rollback_ids = [e.id for e in found["rollbacks"]]
    assert len(rollback_ids) == 3 == len(set(rollback_ids)) and all(i.startswith("heal-rb-") for i in rollback_ids)
    assert len(found["approvals"]) == 2
    assert not CheckpointStore(loki).journal.exists()
    assert (loki / "queue" / "pending.json").read_text() == '["t1"]'
    verify = run_lokilog("verify", loki=loki)
    assert verify.returncode == 0, verify.stdout + verify.stderr
