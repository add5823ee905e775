"""The watch daemon: in-process cycles with a subscriber, and the real `lokilog watch` process:
one instance, live updates from other processes and the drop box, SIGTERM, kill -9 restart."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import msgspec
import pytest

from conftest import run_lokilog, subprocess_env
from eventlog import Event, FileEventLog, LogSettings, new_event_id, now_timestamp
from eventlog.pending import drop
from projections.engine import rebuild
from projections.run_state import RunStateProjection
from projection_helpers import task, views
from subscribers.base import drain
from subscribers.cursor import Cursor
from subscribers.instance import AlreadyRunningError, InstanceLock, holder
from subscribers.registry import enabled_subscribers
from subscribers.watch import Watcher, run_once


def _wait_for(predicate, timeout: float = 15.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _run_seq(loki: Path) -> int:
    try:
        return msgspec.json.decode((loki / "state" / "run" / "summary.json").read_bytes())["seq"]
    except (FileNotFoundError, msgspec.DecodeError):
        return -1


class Recorder:
    """A subscriber that remembers the ids it handled, and fails once on a chosen seq."""

    name = "recorder"

    def __init__(self, fail_on: int | None = None) -> None:
        self.ids: list[str] = []
        self.fail_on = fail_on
        self.seen = threading.Condition()

    def handle(self, event: Event) -> None:
        if event.seq == self.fail_on:
            self.fail_on = None
            raise ConnectionError("remote down")
        with self.seen:
            self.ids.append(event.id)
            self.seen.notify_all()


def test_no_subscriber_is_enabled_by_default(loki):
    assert enabled_subscribers(loki, {}) == []


def test_watcher_wakes_on_appends_and_redelivers_after_a_failure(loki):
    recorder = Recorder(fail_on=2)
    watcher = Watcher(loki, [RunStateProjection()], [recorder], poll_interval=30)
    thread = threading.Thread(target=watcher.run)
    thread.start()
    try:
        with FileEventLog(loki, settings=LogSettings()) as log:
            log.append_many([task("created", "t1"), task("started", "t1")])
            log.append_many([task("completed", "t1")])  # wakes the watcher: seq 2 is retried
        with recorder.seen:
            assert recorder.seen.wait_for(lambda: len(recorder.ids) == 3, timeout=15)
        _wait_for(lambda: _run_seq(loki) == 3, what="summary.json at seq 3")
        assert watcher.using_notifications
    finally:
        watcher.stop()
        thread.join(timeout=15)
    assert not thread.is_alive()
    assert len(set(recorder.ids)) == 3 and Cursor(loki, "recorder").seq == 3


def test_subscriber_cursor_ahead_of_the_log_is_rewound(loki):
    with FileEventLog(loki, settings=LogSettings()) as log:
        log.append_many([task("created", "t1"), task("created", "t2")])
    Cursor(loki, "recorder").commit(9, "gone")
    recorder = Recorder()
    assert drain(loki, recorder) == 0  # rewound to the head (2): later appends are delivered
    assert Cursor(loki, "recorder").seq == 2
    with FileEventLog(loki, settings=LogSettings()) as log:
        log.append_many([task("created", "t3")])
    assert drain(loki, recorder) == 1


def test_run_once_ingests_the_drop_box(loki):
    event = Event(seq=0, id=new_event_id(), type="task", source="hook", timestamp=now_timestamp(),
                  version="1.0", payload={"action": "created", "task_id": "from-hook"})
    drop(loki / "events" / "pending", event)
    report = run_once(loki, [RunStateProjection()])
    assert report.ingested == 1 and report.projections[0].seq == 1
    assert "from-hook" in (loki / "state" / "run" / "tasks.json").read_text()


def test_instance_lock_names_its_holder(loki):
    with InstanceLock(loki):
        assert holder(loki)["pid"] == os.getpid()
        with pytest.raises(AlreadyRunningError, match=f"pid {os.getpid()}"):
            InstanceLock(loki).acquire()
    assert holder(loki) is None


def _start_daemon(loki: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "commands", "watch"], env=subprocess_env(LOKI_DIR=str(loki)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: (holder(loki) or {}).get("pid") == proc.pid or proc.poll() is not None, what="daemon start")
    assert proc.poll() is None, proc.stderr.read()
    return proc


def test_watch_daemon_end_to_end(loki, tmp_path):
    run_lokilog("emit", "task", "--source", "runner", "-p", '{"action":"created","task_id":"t1"}', loki=loki)
    proc = _start_daemon(loki)
    try:
        second = run_lokilog("watch", "--once", loki=loki)
        assert second.returncode == 1 and "already runs" in second.stderr and f"pid {proc.pid}" in second.stderr
        _wait_for(lambda: _run_seq(loki) == 1, what="the existing event")
        run_lokilog("emit", "task", "--source", "runner", "-p", '{"action":"started","task_id":"t1"}', loki=loki)
        _wait_for(lambda: _run_seq(loki) == 2, what="an append from another process")
        event = Event(seq=0, id=new_event_id(), type="task", source="hook", timestamp=now_timestamp(),
                      version="1.0", payload={"action": "completed", "task_id": "t1"})
        drop(loki / "events" / "pending", event)
        _wait_for(lambda: _run_seq(loki) == 3, what="a drop-box file")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert "stopped" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()
    snapshot = msgspec.json.decode((loki / "projections" / "run-state" / "snapshot.json").read_bytes())
    assert snapshot["seq"] == 3  # the final snapshot of a clean shutdown
    assert holder(loki) is None


def test_kill_9_restart_resumes_with_nothing_lost_or_doubled(loki, tmp_path):
    with FileEventLog(loki, settings=LogSettings()) as log:
        log.append_many([task("created", f"t{i}") for i in range(50)])
    proc = _start_daemon(loki)
    try:
        _wait_for(lambda: _run_seq(loki) == 50, what="catch-up")
        with FileEventLog(loki, settings=LogSettings()) as log:
            log.append_many([task("started", f"t{i}") for i in range(20)])
        proc.kill()
        proc.wait(timeout=10)
    finally:
        proc.stdout.close()
        proc.stderr.close()
    with FileEventLog(loki, settings=LogSettings()) as log:
        log.append_many([task("completed", f"t{i}") for i in range(10)])
    result = run_lokilog("watch", "--once", "--json", loki=loki)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["projections"]["run-state"] == 80
    after_restart = views(loki, "state")
    rebuild(loki, [RunStateProjection()])
    assert views(loki, "state") == after_restart


def test_polling_fallback_without_notifications(loki):
    watcher = Watcher(loki, [RunStateProjection()], notifications=False, fallback_interval=0.05)
    thread = threading.Thread(target=watcher.run)
    thread.start()
    try:
        with FileEventLog(loki, settings=LogSettings()) as log:
            log.append_many([task("created", "t1")])
        _wait_for(lambda: _run_seq(loki) == 1, what="a polled append")
        assert not watcher.using_notifications
    finally:
        watcher.stop()
        thread.join(timeout=15)
