"""Kill -9 `lokilog sync run` mid-drain, again and again: every desired update lands exactly once."""
from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("httpx")

from conftest import run_lokilog, subprocess_env
from eventlog import FileEventLog
from projections.engine import catch_up
from projections.trackers import TrackerProjection, outbox
from fake_trackers import FakeTrackers
from test_trackers_sync import ENV, write_config

TASKS = 3
KILLS = 5


@pytest.fixture
def fake():
    server = FakeTrackers(delay=0.01)  # slow enough that a kill lands between requests
    yield server
    server.stop()


def _emit(loki: Path, fake: FakeTrackers) -> None:
    with FileEventLog(loki) as log:
        for n in range(1, TASKS + 1):
            task = f"t{n}"
            fake.add_jira(f"PROJ-{n}")
            fake.add_linear(f"lin-{n}")
            log.append("task", "runner", {"action": "created", "task_id": task, "title": f"Task {n}"})
            for tracker, ref in (("jira", f"PROJ-{n}"), ("linear", f"lin-{n}"), ("github", f"acme/app#{n}"),
                                 ("github", f"acme/app@{n:07x}")):
                log.append("tracker", "cli", {"action": "linked", "tracker": tracker, "task_id": task, "ref": ref})
            log.append("task", "runner", {"action": "started", "task_id": task})
            for gate in ("lint", "unit-tests"):
                log.append("quality", "runner", {"action": "gate", "gate": gate, "result": "pass", "task_id": task})
            log.append("task", "runner", {"action": "completed", "task_id": task})


def test_kill_9_mid_drain_never_double_posts_nor_forgets(loki: Path, fake: FakeTrackers):
    write_config(loki, fake.url, max_retries="0")
    _emit(loki, fake)
    kills = 0
    for round_ in range(KILLS):
        target = fake.writes + 1 + round_ % 3
        child = subprocess.Popen([sys.executable, "-m", "commands", "sync", "run"],
                                 env=subprocess_env(LOKI_DIR=str(loki), **ENV),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            if fake.wait_writes(target, 20) and child.poll() is None:
                os.kill(child.pid, signal.SIGKILL)
                kills += 1
        finally:
            child.wait(20)
    assert kills >= 2, "the drain finished before it could be killed: widen the window"
    done = run_lokilog("sync", "run", loki=loki, timeout=60, **ENV)
    assert done.returncode == 0, done.stdout + done.stderr

    state = catch_up(loki, TrackerProjection(), write_views=False).state
    assert outbox(state, include_given_up=True) == []
    for n in range(1, TASKS + 1):
        jira = fake.jira[f"PROJ-{n}"]
        ops = [c["properties"][0]["value"]["op"] for c in jira["comments"]]
        assert len(ops) == 3 == len(set(ops)), ops  # two gates and the completion, once each
        assert jira["status"] == "Done"
        assert len(fake.linear[f"lin-{n}"]["comments"]) == 3 and fake.linear[f"lin-{n}"]["state"] == "Done"
        bodies = [c["body"] for c in fake.gh_comments[f"acme/app#{n}"]]
        assert len(bodies) == 3 == len(set(bodies))
        assert [s["state"] for s in fake.gh_statuses[f"acme/app@{n:07x}"]][-1] == "success"
    with FileEventLog(loki) as log:
        outcomes = [e.payload for e in log.read() if e.type == "tracker" and e.action == "synced"]
    synced = collections.Counter(p["op_id"] for p in outcomes)
    found = sum(1 for p in outcomes if p.get("result", {}).get("found"))
    print(f"kills {kills}, ops {len(synced)}, landed before a kill and found by read-back {found}")
    assert synced and max(synced.values()) == 1  # every op recorded once
    assert set(synced) == set(state.synced)
