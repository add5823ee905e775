"""What the watch daemon writes first: an append that lands while a cycle is busy with its slower
views or its snapshots reaches run-state before that work goes on; snapshots still all get
written under a steady stream of appends; reads of the log wake nobody."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from eventlog import FileEventLog, LogSettings
from projections.engine.snapshots import ProjectionFiles
from projections.run_state import RunStateProjection
from projection_helpers import Counter, task
from subscribers.log_changes import observe_log
from subscribers.watch import Watcher


def _tasks_seq(loki: Path) -> int:
    return json.loads((loki / "state" / "run" / "tasks.json").read_bytes())["seq"]


class Appending(Counter):
    """A slow view, in effect: while it is written another writer appends (up to ``limit`` times)
    and the notification arrives; ``seen`` records what tasks.json showed at each of its writes."""

    name = "appending"

    def __init__(self, loki: Path, limit: int) -> None:
        self.loki, self.limit, self.appended, self.seen = loki, limit, 0, []
        self.watcher: Watcher | None = None

    def write_views(self, state, loki_dir: Path) -> None:
        super().write_views(state, loki_dir)
        self.seen.append(_tasks_seq(self.loki))
        if self.appended < self.limit:
            self.appended += 1
            with FileEventLog(self.loki, settings=LogSettings()) as log:
                log.append_many([task("started", f"late-{self.appended}")])
            self.watcher.wake.set()  # what the file notification does


def test_an_append_during_the_slower_views_reaches_run_state_in_the_same_cycle(loki):
    with FileEventLog(loki, settings=LogSettings()) as log:
        log.append_many([task("created", "t1")])
    slow = Appending(loki, limit=1)
    reports = []
    watcher = Watcher(loki, [RunStateProjection(), slow], notifications=False,
                      on_cycle=lambda report: reports.append((report, _tasks_seq(loki))))
    slow.watcher = watcher
    try:
        report = watcher.cycle()
    finally:
        watcher.shutdown()
    assert not report.errors
    assert slow.seen == [1, 2]  # its second write already found run-state at the new append
    assert [(state.name, state.seq) for state in report.projections] == [("run-state", 2), ("appending", 2)]
    assert reports[0][1] == 2  # tasks.json had it before the cycle was reported
    state = json.loads((loki / "counter" / "appending.json").read_bytes())
    assert state == {"task": 2}


def test_every_snapshot_is_written_while_appends_keep_arriving(loki):
    with FileEventLog(loki, settings=LogSettings()) as log:
        log.append_many([task("created", "t1")])
    cycles = 12
    slow = Appending(loki, limit=cycles)
    extra = [Counter() for _ in range(4)]
    for index, projection in enumerate(extra):
        projection.name = f"counter-{index}"
    projections = [RunStateProjection(), slow, *extra]
    watcher = Watcher(loki, projections, notifications=False, snapshot_seconds=0)
    slow.watcher = watcher
    try:
        for _ in range(cycles):
            watcher.cycle()
        # Before shutdown (which writes every snapshot): the rounds cut short resumed in turn.
        for projection in projections:
            assert ProjectionFiles(loki, projection.name).read_snapshot() is not None, projection.name
    finally:
        watcher.shutdown()
    assert _tasks_seq(loki) == 1 + cycles


def test_reads_of_the_log_do_not_wake_the_watcher_and_appends_do(loki):
    with FileEventLog(loki, settings=LogSettings()) as log:
        log.append_many([task("created", "t1")])
        paths = log.paths
    woken = threading.Event()
    observer = observe_log(paths, woken.set)
    try:
        for _ in range(20):
            for path in [*paths.log_dir.iterdir(), *paths.events.iterdir()]:
                if path.is_file():
                    path.read_bytes()
        time.sleep(0.3)  # long enough for notifications of those reads, had any been asked for
        assert not woken.is_set()
        with FileEventLog(loki, settings=LogSettings()) as log:
            log.append_many([task("started", "t1")])
        assert woken.wait(timeout=10)
    finally:
        observer.stop()
        observer.join(timeout=5)
