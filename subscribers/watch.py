"""The watch daemon: keeps every projection and enabled subscriber current as the log grows.

Each cycle ingests the drop box, folds new events into every projection (runners stay in
memory between cycles; snapshots are written every N events or T seconds and at shutdown)
and drains every subscriber from its own cursor. Cycles are woken by watchdog notifications
on the log and drop-box directories; a notification only means "look again", the log is
always re-read from each position. A poll every ``poll_interval`` seconds backs them up (and
replaces them where notifications cannot start).
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from eventlog import EventLogError, FileEventLog, LockTimeoutError

from projections.base import Projection
from projections.engine import ProjectionState, Runner, RunnerGroup

from .base import Subscriber, check_cursor, drain
from .cursor import Cursor
# watchdog (a core dependency, imported there): a missing one is an install error, not a
# reason to poll. Polling stays for file systems that give no notifications (_start_observer).
from .log_changes import observe_log

_log = logging.getLogger("lokilog.watch")


@dataclass
class CycleReport:
    """What one cycle did."""

    ingested: int = 0
    folded_ns: int = 0  # when the last projection had folded the new events (before its views)
    projections: list[ProjectionState] = field(default_factory=list)
    delivered: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


class Watcher:
    """Runs projections and subscribers over one `.loki/` (the caller holds the InstanceLock)."""

    def __init__(
        self, loki_dir: Path, projections: Iterable[Projection], subscribers: Iterable[Subscriber] = (),
        *, poll_interval: float = 2.0, fallback_interval: float = 0.5, notifications: bool = True,
        snapshot_every: int = 50_000, snapshot_seconds: float = 5.0,
        on_cycle: Callable[[CycleReport], None] | None = None,
    ) -> None:
        self.loki_dir = Path(loki_dir)
        self.log = FileEventLog(self.loki_dir)
        self.runners = [Runner(self.loki_dir, p, log=self.log, snapshot_every=snapshot_every,
                               snapshot_seconds=snapshot_seconds) for p in projections]
        self.group = RunnerGroup(self.runners, self.log)
        self.subscribers = list(subscribers)
        self.poll_interval = poll_interval
        self.fallback_interval = fallback_interval
        self.notifications = notifications
        self.on_cycle = on_cycle
        self.wake = threading.Event()
        self.stopped = threading.Event()
        self._checked: set[str] = set()
        self._folded_head = -1
        self._snapshot_next = 0
        self.using_notifications = False

    # ------------------------------------------------------------------ one cycle

    def cycle(self, *, flush: bool = False) -> CycleReport:
        """Ingest the drop box, catch every projection up and drain every subscriber once.

        ``flush`` makes batching subscribers send what they hold now (the last cycle of a run).
        """
        report = CycleReport()
        self._ingest(report)
        seen = {id(runner): len(runner.notices) for runner in self.runners}
        failed: set[int] = set()
        self._fold(report)
        self._write_views(self.runners, report, failed)
        for subscriber in self.subscribers:
            self._answer_new_appends(report, failed)
            self._drain(subscriber, report, flush)
        report.projections = [runner.result() for runner in self.runners if id(runner) not in failed]
        for runner in self.runners:
            report.notices.extend(runner.notices[seen[id(runner)]:])
        for line in report.notices:
            _log.warning("%s", line)
        for line in report.errors:
            _log.error("%s", line)
        if self.on_cycle is not None:
            self.on_cycle(report)
        self._write_snapshots()
        return report

    # An append that lands while a cycle writes its slower views, drains subscribers or fsyncs
    # snapshots is folded at once and the first view (run-state) rewritten before the cycle goes
    # on: its latency is one fold and one view, not the rest of the cycle. Everything written
    # stays what a clean rebuild would write; only the order of the files changes.

    def _fold(self, report: CycleReport) -> None:
        head = self.log.head_seq
        for runner in self.runners:
            runner.check_head(head)
        try:
            self.group.advance()  # one pass over the new events for every projection
        except EventLogError as exc:
            report.errors.append(f"projections: {exc}")
        report.folded_ns = time.time_ns()
        self._folded_head = head

    def _appended(self) -> bool:
        """True if the log grew past the last fold (asks the log only after a notification)."""
        return self.wake.is_set() and self.log.head_seq != self._folded_head

    def _answer_new_appends(self, report: CycleReport, failed: set[int]) -> None:
        if self.runners and self._appended():
            self._fold(report)
            self._save_views(self.runners[0], report, failed)

    def _write_views(self, runners: list[Runner], report: CycleReport, failed: set[int]) -> None:
        for runner in runners:
            self._save_views(runner, report, failed)
            self._answer_new_appends(report, failed)
        # The appends folded while the later views were written must reach the earlier ones too.
        for runner in runners[1:]:
            if id(runner) not in failed:  # a failed write is retried next cycle, reported once
                self._save_views(runner, report, failed)

    def _save_views(self, runner: Runner, report: CycleReport, failed: set[int]) -> None:
        try:
            runner.save(views=True, snapshot=False)
            failed.discard(id(runner))
        except EventLogError as exc:
            failed.add(id(runner))
            report.errors.append(f"projection {runner.projection.name}: {exc}")

    def _write_snapshots(self) -> None:
        """Write the snapshots that are due, once the views are out. An append waiting stops the
        round after one runner; the next cycle resumes after it, so every runner gets its turn."""
        count = len(self.runners)
        for step in range(count):
            if step and self._appended():
                return
            runner = self.runners[self._snapshot_next]
            self._snapshot_next = (self._snapshot_next + 1) % count
            try:
                runner.save()
            except EventLogError as exc:
                _log.error("projection %s: snapshot not written: %s", runner.projection.name, exc)

    def _ingest(self, report: CycleReport) -> None:
        # Look before taking the lock: an appender holds it through its fsync, and waiting for
        # that on every wake-up would add the writer's fsync to every cycle's latency.
        # Loki Mode's files stay in pending/, so "pending/ is not empty" says nothing: ask the
        # ingester whether anything it reads (drop box, flat files, records) changed.
        if not self.log.ingester().changed():
            return
        try:
            report.ingested = self.log.ingest_pending(timeout=0.5).ingested
        except LockTimeoutError:
            pass  # a writer holds the log; it ingests the drop box itself, or the next cycle does
        except (EventLogError, OSError) as exc:
            report.errors.append(f"ingesting the drop box: {exc}")

    def _drain(self, subscriber: Subscriber, report: CycleReport, flush: bool = False) -> None:
        try:
            batched = getattr(subscriber, "drain", None)
            if batched is not None:  # a batching subscriber keeps its own cursor (e.g. the OTLP exporter)
                report.delivered[subscriber.name] = batched(self.log, force=flush)
                return
            if subscriber.name not in self._checked:
                check_cursor(self.log, Cursor(self.loki_dir, subscriber.name))
                self._checked.add(subscriber.name)
            report.delivered[subscriber.name] = drain(self.loki_dir, subscriber, log=self.log, check=False)
        except Exception as exc:  # a failing side effect is retried next cycle; others go on
            report.errors.append(f"subscriber {subscriber.name}: {type(exc).__name__}: {exc}")

    # ------------------------------------------------------------------ the loop

    def run(self) -> None:
        """Cycle until :meth:`stop`; then write final snapshots."""
        observer = self._start_observer() if self.notifications else None
        interval = self.poll_interval if observer is not None else self.fallback_interval
        try:
            while not self.stopped.is_set():
                self.wake.clear()  # before the cycle: a change during it wakes the next one
                self.cycle()
                self.wake.wait(interval)
        finally:
            if observer is not None:
                observer.stop()
                observer.join(timeout=5)
            self.shutdown()

    def stop(self) -> None:
        """Ask :meth:`run` to finish its cycle and return (safe from signal handlers and threads)."""
        self.stopped.set()
        self.wake.set()

    def shutdown(self) -> None:
        """Write every projection's snapshot and close files."""
        for runner in self.runners:
            try:
                runner.save(force=True)
            except EventLogError as exc:
                _log.error("projection %s: final snapshot not written: %s", runner.projection.name, exc)
            runner.close()
        for subscriber in self.subscribers:
            close = getattr(subscriber, "close", None)
            if close is not None:
                close()
        self.log.close()

    def _start_observer(self):
        try:
            observer = observe_log(self.log.paths, self.wake.set)
        except OSError as exc:
            _log.warning("file notifications unavailable (%s); polling every %.1fs", exc, self.fallback_interval)
            return None
        self.using_notifications = True
        return observer


def run_once(loki_dir: Path, projections: Iterable[Projection], subscribers: Iterable[Subscriber] = ()) -> CycleReport:
    """Run one cycle and write final snapshots: `lokilog watch --once`."""
    watcher = Watcher(loki_dir, projections, subscribers, notifications=False)
    try:
        return watcher.cycle(flush=True)
    finally:
        watcher.shutdown()

