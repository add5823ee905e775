"""An `eventsourcing` application on lokilog across real processes: save and read, a conflict,
a process application killed with SIGKILL and restarted, and lokilog's own tools over its events."""
from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from uuid import UUID

import pytest
from eventsourcing.persistence import InfrastructureFactory, IntegrityError, StoredEvent, Tracking

from conftest import REPO, disk_backed_dir, run_lokilog, subprocess_env
from eventlog import FileEventLog
from eventlog.config import LogSettings
from eventlog.integrations.eventsourcing import LokiFactory
from eventlog.integrations.eventsourcing.datastore import LokiDatastore
from eventlog.integrations.eventsourcing.mapping import SOURCE, TRACKING_TYPE
from eventlog.integrations.eventsourcing.recorders import LokiApplicationRecorder, LokiProcessRecorder

APP = str(REPO / "tests" / "eventsourcing_app.py")


@pytest.fixture
def loki(tmp_path, request) -> Path:
    return disk_backed_dir(tmp_path, request.node.name) / ".loki"


def app(loki: Path, *args: str, timeout: float = 60) -> str:
    done = subprocess.run([sys.executable, APP, *args], env=subprocess_env(LOKI_DIR=str(loki)),
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def start(loki: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, APP, *args], env=subprocess_env(LOKI_DIR=str(loki)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def our_events(loki: Path, app_name: str | None = None):
    with FileEventLog(loki) as log:
        events = [e for e in log.read() if e.source == SOURCE]
    if app_name is None:
        return events
    return [e for e in events if e.payload.get("application") == app_name]


def test_saved_in_one_process_read_in_another(loki):
    task_id = app(loki, "save", "write the docs")
    assert json.loads(app(loki, "read", task_id)) == {
        "title": "write the docs", "status": "done", "notes": ["plan", "build"], "version": 5}
    events = our_events(loki, "Tasks")
    assert [e.stream for e in events] == [task_id] * 5
    assert [e.payload["originator_version"] for e in events] == [1, 2, 3, 4, 5]
    assert [e.type.rsplit(".", 1)[1] for e in events] == ["Created", "Started", "Noted", "Noted", "Finished"]


def test_two_processes_changing_one_aggregate_one_gets_the_conflict(loki, tmp_path):
    task_id = app(loki, "save", "contested")
    go = tmp_path / "go"
    racers = [start(loki, "race", task_id, str(go)) for _ in range(2)]
    time.sleep(1.0)  # both have read the aggregate at version 5 (bounded: they wait at most 30 s)
    go.touch()
    outcomes = sorted(p.communicate(timeout=60)[0].strip() for p in racers)
    assert outcomes == ["conflict", "ok"]
    state = json.loads(app(loki, "read", task_id))
    assert state["version"] == 6 and state["title"].startswith("renamed by ")


def test_a_process_application_killed_mid_run_processes_every_notification_once(loki):
    for number in range(30):
        app(loki, "save", f"task {number}")
    upstream = our_events(loki, "Tasks")
    assert len(upstream) == 150
    follower = start(loki, "follow", "0.002")
    deadline = time.monotonic() + 60
    while len(our_events(loki, "Tally")) < 80 and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(follower.pid, signal.SIGKILL)
    follower.communicate(timeout=30)
    assert follower.returncode == -signal.SIGKILL
    seen_before = len(our_events(loki, "Tally")) // 2  # a Seen event and a tracking record each
    assert 40 <= seen_before < 150, "the kill must land in the middle of the run"
    assert app(loki, "follow") == "caught up"
    seen = [e for e in our_events(loki, "Tally") if e.type != TRACKING_TYPE]
    processed = Counter(_seen_what(e) for e in seen)
    assert set(processed.values()) == {1}, "no upstream event processed twice"
    assert set(processed) == {(UUID(e.stream), e.payload["originator_version"]) for e in upstream}
    tracking = [e for e in our_events(loki) if e.type == TRACKING_TYPE]
    ids = [e.payload["notification_id"] for e in tracking]
    assert ids == [e.seq for e in upstream], "each upstream notification tracked exactly once, in order"
    with FileEventLog(loki) as log:
        by_seq = {e.seq: e for e in log.read()}
    for mark in tracking:  # every tracking record sits right after the event its notification produced
        assert by_seq[mark.seq - 1].payload.get("application") == "Tally"


def test_lokilog_replay_verify_and_audit_over_the_applications_events(loki):
    task_id = app(loki, "save", "audited")
    replay = run_lokilog("replay", "--stream", task_id, "--json", loki=loki)
    assert replay.returncode == 0, replay.stderr
    lines = [json.loads(line) for line in replay.stdout.splitlines()]
    assert [line["payload"]["originator_version"] for line in lines] == [1, 2, 3, 4, 5]
    assert run_lokilog("verify", loki=loki).returncode == 0
    assert run_lokilog("audit", "sync", loki=loki).returncode == 0
    verified = run_lokilog("audit", "verify", "--json", loki=loki)
    assert verified.returncode == 0, verified.stdout
    assert json.loads(verified.stdout)["valid"] is True and json.loads(verified.stdout)["entries"] >= 5


def test_other_events_in_the_log_leave_gaps_in_the_notification_ids(loki):
    with _store(loki) as datastore:
        recorder = LokiApplicationRecorder(datastore, "Tasks")
        first = StoredEvent("a", 1, "topic", b"\x00state")
        assert recorder.insert_events([first]) == [1]
        datastore.log.append("task", "runner", {"action": "start"}, stream="a")  # not the library's
        second = StoredEvent("a", 2, "topic", b"\xff")
        assert recorder.insert_events([second]) == [3]
        assert [n.id for n in recorder.select_notifications(None, 10)] == [1, 3]
        assert recorder.max_notification_id() == 3
        assert [e.state for e in recorder.select_events("a")] == [b"\x00state", b"\xff"]


def test_a_tracking_record_already_written_by_another_process_is_refused(loki):
    with _store(loki) as one, _store(loki) as other:
        first, second = LokiProcessRecorder(one, "Tally"), LokiProcessRecorder(other, "Tally")
        assert first.max_tracking_id("Tasks") is None and second.max_tracking_id("Tasks") is None
        first.insert_events([StoredEvent("b", 1, "topic", b"")], tracking=Tracking("Tasks", 7))
        with pytest.raises(IntegrityError):  # the second view was behind: the log's condition catches it
            second.insert_events([StoredEvent("c", 1, "topic", b"")], tracking=Tracking("Tasks", 7))
        assert second.select_events("c") == [] and second.max_tracking_id("Tasks") == 7


def test_the_factory_is_found_by_its_topic_and_reads_loki_dir_from_the_application(loki):
    env = {"PERSISTENCE_MODULE": "eventlog.integrations.eventsourcing", "TASKS_LOKI_DIR": str(loki)}
    from eventsourcing.utils import Environment

    factory = InfrastructureFactory.construct(Environment("Tasks", env))
    try:
        assert isinstance(factory, LokiFactory)
        assert factory.datastore.log.paths.root == loki
    finally:
        factory.close()


def _seen_what(event) -> tuple[UUID, int]:
    """(task id, task version) a Seen event of Tally records, from the library's JSON state."""
    state = json.loads(base64.b64decode(event.payload["state"]))
    return UUID(state["task_id"]["_data_"]), state["task_version"]


class _store:
    def __init__(self, loki: Path) -> None:
        self.datastore = LokiDatastore(loki, settings=LogSettings())

    def __enter__(self) -> LokiDatastore:
        return self.datastore

    def __exit__(self, *exc) -> None:
        self.datastore.close()


def test_a_subscription_follows_another_processs_saves_live(loki):
    with _store(loki) as datastore:
        recorder = LokiApplicationRecorder(datastore, "Tasks")
        with recorder.subscribe(gt=None) as subscription:
            bound = threading.Timer(30, subscription.stop)  # ends the iteration if nothing ever comes
            bound.start()
            task_id = app(loki, "save", "followed")
            got = []
            for notification in subscription:  # blocks until the log has them: the child saved 5
                got.append(notification)
                if len(got) == 5:
                    break
            bound.cancel()
        assert {str(n.originator_id) for n in got} == {task_id}
        assert [n.originator_version for n in got] == [1, 2, 3, 4, 5]
        assert [n.id for n in got] == sorted(n.id for n in got)


def test_snapshots_go_to_their_own_streams_and_a_second_application_uses_them(loki):
    from eventsourcing.application import Application

    from eventsourcing_app import Task

    class Snapshotting(Application):
        snapshotting_intervals = {Task: 3}

    env = {"PERSISTENCE_MODULE": "eventlog.integrations.eventsourcing", "LOKI_DIR": str(loki)}
    first = Snapshotting(env=env)
    task = Task("snap")
    for text in "abcdefg":
        task.note(text)
        first.save(task)
    second = Snapshotting(env=env)
    try:
        assert second.repository.get(task.id).notes == list("abcdefg")
        assert second.repository.get(task.id, version=4).notes == list("abc")
        assert [s.originator_version for s in second.snapshots.recorder.select_events(task.id)] == [3, 6]
    finally:
        first.close()
        second.close()
    with FileEventLog(loki) as log:
        snapshots = [e for e in log.read() if e.stream == f"snapshots:{task.id}"]
    assert [e.payload["purpose"] for e in snapshots] == ["snapshots", "snapshots"]
