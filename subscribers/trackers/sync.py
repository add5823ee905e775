"""The sync subscriber of one tracker: drain the trackers projection's outbox over HTTP.

A drain folds the log into the trackers projection, takes the ops of its tracker that are
still pending, and performs each one (look first, then write), recording the outcome as a
``tracker.synced`` or ``tracker.failed`` event whose id derives from the op id. A crash
anywhere leaves the op pending or recorded; a pending op is looked up before it is written
again, and a recorded outcome is an idempotent append. Only this subscriber sends requests:
rebuilding the projection or replaying the log never does.
"""
from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from eventlog import Event, FileEventLog, LockTimeoutError, LokiPaths, parse_timestamp
from eventlog.locking import LogLock
from eventlog.retry import backoff_delay
from projections.engine import catch_up
from projections.trackers import Op, TrackerProjection, outbox, outcome_id

from ..cursor import Cursor
from .config import TrackerConfig
from .errors import PermanentError, SyncBusyError, TrackerConfigError, TrackerError, TransientError

SOURCE = "lokilog"
#: Event types that can change what a tracker should show.
_RELEVANT = frozenset({"task", "state", "quality", "tracker"})


@dataclass
class SyncReport:
    """What one drain did."""

    tracker: str
    synced: int = 0
    failed: int = 0
    gave_up: int = 0
    remaining: int = 0
    stopped: bool = False
    errors: list[str] = field(default_factory=list)


def build_adapter(config: TrackerConfig, env: Mapping[str, str]):
    """Return the HTTP adapter of a tracker (this is where httpx gets imported)."""
    try:
        import httpx  # noqa: F401
    except ImportError:
        raise TrackerConfigError("tracker syncs need httpx: pip install 'lokilog[trackers]'") from None
    if config.name == "jira":
        from .jira import JiraAdapter as adapter
    elif config.name == "linear":
        from .linear import LinearAdapter as adapter
    else:
        from .github import GitHubAdapter as adapter
    return adapter(config, env)


class TrackerSync:
    """A subscriber (see subscribers.base) that keeps one tracker in step with the log."""

    def __init__(self, loki_dir: Path, config: TrackerConfig, env: Mapping[str, str],
                 stop: threading.Event | None = None, rng: random.Random | None = None,
                 lock_timeout: float = 5.0) -> None:
        self.loki_dir = Path(loki_dir)
        self.config = config
        self.name = f"tracker-{config.name}"
        self.env = env
        self.stop = stop or threading.Event()
        self.rng = rng or random.Random()
        self.lock_timeout = lock_timeout
        self._through = -1

    def handle(self, event: Event) -> None:
        """Drain once per batch of new events that can change what is desired.

        Our own failure records are skipped (they would re-trigger the drain that wrote them),
        and ops that failed recently wait out their backoff instead of being hammered by every
        new event; `sync run` ignores that wait.
        """
        if event.seq <= self._through or event.type not in _RELEVANT:
            return
        if event.type == "tracker" and event.action == "failed":
            return
        self.run_once(commit_cursor=False, respect_backoff=True)

    def run_once(self, limit: int | None = None, commit_cursor: bool = True,
                 respect_backoff: bool = False) -> SyncReport:
        """Send every pending op of this tracker (at most ``limit``) and record the outcomes."""
        # Beside the cursor, not among the views: a rebuild may replace `.loki/trackers/`.
        lock = LogLock(LokiPaths(self.loki_dir).cursors / f"{self.name}.lock")
        lock.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            lock.acquire(self.lock_timeout)
        except LockTimeoutError:
            raise SyncBusyError(f"another process is syncing {self.config.name}") from None
        try:
            return self._drain(limit, commit_cursor, respect_backoff)
        finally:
            lock.release()
            lock.close()

    def _drain(self, limit: int | None, commit_cursor: bool, respect_backoff: bool) -> SyncReport:
        report = SyncReport(self.config.name)
        folded = catch_up(self.loki_dir, TrackerProjection(), write_views=False)
        ops = outbox(folded.state, self.config.name)
        if respect_backoff:
            now = time.time()
            ops = [op for op in ops if self._due(op, now)]
        todo = ops if limit is None else ops[:limit]
        if todo:
            adapter = build_adapter(self.config, self.env)
            try:
                with FileEventLog(self.loki_dir) as log:
                    for op in todo:
                        if self.stop.is_set():
                            report.stopped = True
                            break
                        self._sync_one(log, adapter, op, report)
                    log.sync()
            finally:
                adapter.close()
        report.remaining = len(ops) - report.synced - report.gave_up
        if not report.stopped and limit is None:
            if commit_cursor:
                Cursor(self.loki_dir, self.name).commit(folded.seq)
            self._through = folded.seq
        return report

    def _due(self, op: Op, now: float) -> bool:
        """True when a failed op has waited out its backoff between drains."""
        if op.last_failed_at is None:
            return True
        policy = self.config.retry
        wait = min(policy.max_delay, policy.base_delay * 2 ** (op.attempts + policy.max_retries))
        return parse_timestamp(op.last_failed_at).timestamp() + wait <= now

    def _sync_one(self, log: FileEventLog, adapter, op: Op, report: SyncReport) -> None:
        try:
            if op.kind == "comment" and not self.config.comments:
                result = {"skipped": "comments disabled"}
            else:
                result = self._attempt(adapter, op)
        except TrackerError as error:
            if self.stop.is_set() and isinstance(error, TransientError):
                report.stopped = True
                return  # stopped while waiting: not a failure, the op stays pending
            self._record_failure(log, op, error, report)
            return
        payload = _op_payload(op, "synced")
        if result:
            payload["result"] = result
        # No fsync per outcome: one lost to power loss only means the op runs again, and its
        # read-back finds the earlier landing. The drain fsyncs once before moving its cursor.
        log.append("tracker", SOURCE, payload, id=outcome_id("synced", op.id),
                   correlation_id=op.origin_id, durability="batch")
        report.synced += 1

    def _attempt(self, adapter, op: Op) -> dict[str, Any]:
        policy = self.config.retry
        for attempt in range(policy.max_retries + 1):
            try:
                return adapter.apply(op)
            except TransientError as error:
                if attempt == policy.max_retries:
                    raise
                delay = backoff_delay(attempt, policy.base_delay, policy.max_delay, error.retry_after, self.rng)
                if self.stop.wait(delay):
                    raise
        raise AssertionError("unreachable")

    def _record_failure(self, log: FileEventLog, op: Op, error: TrackerError, report: SyncReport) -> None:
        attempt = op.attempts + 1
        gave_up = isinstance(error, PermanentError) or attempt >= self.config.retry.max_attempts
        payload = _op_payload(op, "failed")
        payload.update(error=str(error)[:500], attempt=attempt, gave_up=gave_up,
                       permanent=isinstance(error, PermanentError))
        log.append("tracker", SOURCE, payload, id=outcome_id("failed", op.id, attempt),
                   correlation_id=op.origin_id, durability="batch")
        report.failed += 1
        report.gave_up += int(gave_up)
        report.errors.append(f"{op.ref} {op.kind}: {error}")


def _op_payload(op: Op, action: str) -> dict[str, Any]:
    return {"action": action, "tracker": op.tracker, "op_id": op.id, "kind": op.kind, "ref": op.ref,
            "task_id": op.task_id, "value": op.value[:200], "origin_seq": op.origin_seq}


__all__ = ["SyncReport", "TrackerSync", "build_adapter"]
