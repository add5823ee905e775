"""Running projections over the log: snapshots, incremental catch-up, time travel, rebuilds.

A :class:`Runner` owns one projection's position in one `.loki/`: it resumes from the
snapshot, folds what the log holds after it, writes snapshots every ``snapshot_every`` events
or ``snapshot_seconds`` seconds, and rewrites the views whenever the state moved (and once per
runner, which repairs views torn by a crash). A :class:`RunnerGroup` catches many runners up
in one pass over the log: each line is decoded once (only the types some runner reads are
decoded past the envelope) and each event goes only to the folds that read its type, each
runner starting at its own seq. The watch daemon keeps a group alive between wake-ups; the
functions below make runners for one call.

A snapshot is distrusted, loudly (a notice in the result), and the projection rebuilt from
seq 1 when: its schema version differs from the projection's; it is past the log's head or
the event at its seq is not the one it saw (the log lost its tail or was replaced); it cannot
be decoded.
"""
from __future__ import annotations

import time
from itertools import chain
from pathlib import Path
from typing import Any, Callable, Iterable

import msgspec

from eventlog import FileEventLog, InvalidEventError, LockTimeoutError, LogCorruptedError, parse_timestamp
from eventlog.locking import LogLock

from ..base import Projection, project
from .fold import DeadLetter, FoldOutcome, Lane, fold, fold_batches, wanted_types
from .snapshots import ProjectionFiles, Snapshot, decode_state, encode_state, intact

#: States remembered from rollback rewinds (by seq), per runner.
_MAX_REWINDS = 64

#: progress(name, seq_done, head_seq) during long folds (rebuilds).
Progress = Callable[[str, int, int], None]


class ProjectionState(msgspec.Struct, frozen=True):
    """A projection's state and the seq of the last event folded into it."""

    name: str
    seq: int
    state: Any
    dead_letters: int = 0
    stopped: DeadLetter | None = None
    notices: tuple[str, ...] = ()


class ProjectionStoppedError(RuntimeError):
    """A rewind needed a state the projection could not compute (it stops on a poison event)."""


class Runner:
    """One projection kept current over one log (see the module docstring)."""

    def __init__(
        self, loki_dir: Path, projection: Projection, *, log: FileEventLog | None = None,
        snapshot_every: int = 50_000, snapshot_seconds: float = 5.0, lock_timeout: float = 5.0,
        fresh: bool = False,
    ) -> None:
        self.loki_dir = Path(loki_dir)
        self.projection = projection
        self.files = ProjectionFiles(self.loki_dir, projection.name)
        self.snapshot_every = snapshot_every
        self.snapshot_seconds = snapshot_seconds
        self.notices: list[str] = []
        self._log = log if log is not None else FileEventLog(self.loki_dir)
        self._owns_log = log is None
        self._lock = LogLock(self.files.lock)
        self._lock_timeout = lock_timeout
        self._base: tuple[int, bytes] | None = None  # (seq, encoded state) of the last snapshot
        self._rewinds: dict[int, bytes] = {}         # seq -> encoded state, computed by rewinds
        self._scanner = None                          # resumes reading where the last fold stopped
        self._snapshot_at = (0, time.monotonic())     # (events folded, when) at the last snapshot
        self._views_seq: int | None = None
        self._changed = False  # events were applied since the views were last written
        self._distrusted = False  # the files on disk are not to be trusted: overwrite them
        self.outcome = self._initial() if fresh else self._resume()

    # ------------------------------------------------------------------ loading

    def _initial(self) -> FoldOutcome:
        return FoldOutcome(self.projection.initial(), 0)

    def _resume(self) -> FoldOutcome:
        snapshot = self.files.read_snapshot()
        problem = self._distrust(snapshot)
        if problem:
            self.notices.append(f"projection {self.projection.name}: {problem}; rebuilding it from seq 1")
            self._distrusted = True
            return self._initial()
        if snapshot is None:
            return self._initial()
        self._base = (snapshot.seq, bytes(snapshot.state))
        return FoldOutcome(
            decode_state(snapshot.state, self.projection.state_type), snapshot.seq, snapshot.head_id,
            list(snapshot.dead_letters), snapshot.dead_letter_count, snapshot.stopped,
        )

    def _distrust(self, snapshot: Snapshot | None) -> str | None:
        head = self._log.head_seq
        mark = self.files.read_position()
        if snapshot is None:
            if self.files.snapshot.exists():
                return "its snapshot cannot be read"
            if mark.seq > head:
                return f"its views were written at seq {mark.seq} but the log ends at seq {head}: the log lost its tail"
            return None
        if snapshot.name != self.projection.name:
            return f"its snapshot belongs to {snapshot.name!r}"
        if snapshot.version != self.projection.version:
            return f"its schema version changed from {snapshot.version} to {self.projection.version}"
        if not intact(snapshot):
            return "its snapshot was damaged at rest (its digest does not match)"
        for seq, event_id, what in ((snapshot.seq, snapshot.head_id, "snapshot"), (mark.seq, mark.id, "views")):
            if seq > head:
                return f"its {what} is at seq {seq} but the log ends at seq {head}: the log lost its tail"
            if seq and event_id is not None:
                event = self._log.get(seq)
                if event is None or event.id != event_id:
                    return f"the event at seq {seq} is not the one its {what} saw: the log was rewritten"
        return None

    def check_head(self, head: int) -> bool:
        """Start over from seq 1, with a notice, if the state is past ``head`` (the log lost its tail)."""
        if self.outcome.seq <= head:
            return True
        self.notices.append(f"projection {self.projection.name}: it is at seq {self.outcome.seq} but the log "
                            f"ends at seq {head}: the log lost its tail; rebuilding it from seq 1")
        self.outcome = self._initial()
        self._base, self._rewinds, self._scanner = None, {}, None
        self._views_seq = None
        self._distrusted = True
        return False

    # ------------------------------------------------------------------ folding

    def advance(self, to_seq: int | None = None, *, ingest: bool = False,
                progress: Progress | None = None) -> FoldOutcome:
        """Fold the events after the current position (up to ``to_seq``) into the state."""
        if ingest:
            _ingest_if_free(self._log)
        if self._scanner is None:
            self._scanner = self._log.scanner()
        _advance([self], self._log, self._scanner, to_seq, progress)
        return self.outcome

    def lane(self) -> Lane:
        """This runner's part in a shared pass."""
        return Lane(self.projection, self.outcome, self._restore)

    def folded(self, lane: Lane) -> None:
        """Note a pass this runner's lane took part in (its views are rewritten if it applied events)."""
        self._changed = self._changed or lane.applied > 0

    def _tick(self) -> None:
        if self.snapshot_every > 0:
            self.save(force=False)

    def _restore(self, target: int) -> Any:
        # A rollback to ``target``: fold a fresh copy from the newest known state at or before
        # it (the snapshot, or an earlier rewind's result). Remembering rewinds keeps nested
        # rollbacks linear: each one would otherwise re-fold every rollback before it.
        candidates = {seq: data for seq, data in self._rewinds.items() if seq <= target}
        if self._base is not None and self._base[0] <= target:
            candidates.setdefault(self._base[0], self._base[1])
        if candidates:
            start = max(candidates)
            outcome = FoldOutcome(decode_state(candidates[start], self.projection.state_type), start)
        else:
            outcome = self._initial()
        if target > outcome.seq:
            events = chain.from_iterable(self._log.read_batches(outcome.seq + 1, target))
            fold(self.projection, outcome, events, self._restore)
        if outcome.stopped is not None:
            raise ProjectionStoppedError(f"cannot rewind to seq {target}: seq {outcome.stopped.seq} is poison")
        if len(self._rewinds) >= _MAX_REWINDS:
            del self._rewinds[next(iter(self._rewinds))]
        self._rewinds[target] = encode_state(outcome.state)
        return outcome.state

    # ------------------------------------------------------------------ writing

    def catch_up(self, write_views: bool = True, *, ingest: bool = False, force_snapshot: bool = False,
                 snapshot: bool = True) -> ProjectionState:
        """Fold up to the log's head, then write the views and the snapshot (when due).

        ``snapshot=False`` leaves the snapshot to a later :meth:`save`: the watch daemon
        writes views first and snapshots (an fsync) once the wake-up is answered.
        """
        self.advance(ingest=ingest)
        if snapshot:
            self.save(force=force_snapshot, views=write_views)
        elif write_views:
            self.save(views=True, snapshot=False)
        return self.result()

    def save(self, force: bool = False, views: bool = False, overwrite: bool = False, snapshot: bool = True) -> bool:
        """Write the snapshot if due (or ``force``) and the views if they moved; False if locked out."""
        outcome = self.outcome
        due = snapshot and self._snapshot_due(force)
        moved = views and self._views_seq != outcome.seq
        # Views are a function of the state: if no event reached apply since they were
        # written, only the high-water mark moves (the first write of each runner is whole).
        stale = moved and (self._changed or self._views_seq is None or overwrite or self._distrusted)
        if not (due or moved):
            return True
        try:
            self._lock.acquire(self._lock_timeout)
        except LockTimeoutError:
            self.notices.append(f"projection {self.projection.name}: another process kept its lock; nothing written")
            return False
        try:
            if not (overwrite or self._distrusted) and self.files.read_position().seq > outcome.seq:
                return True  # another process already wrote newer files
            # Views first: they are what readers wait for; the snapshot's fsync can follow.
            # A crash between the two is harmless (views are rewritten at every start).
            if moved:
                if stale:
                    self.projection.write_views(outcome.state, self.loki_dir)
                    self._changed = False
                self._views_seq = outcome.seq
                self.files.write_position(outcome.seq, outcome.head_id)
                self._distrusted = False  # the bad high-water mark is replaced by ours
            if due:
                self._write_snapshot()
            return True
        finally:
            self._lock.release()

    def _snapshot_due(self, force: bool) -> bool:
        if self._base is not None and self._base[0] == self.outcome.seq:
            return False
        if force:
            return True
        events, when = self._snapshot_at
        return (self.outcome.events - events >= self.snapshot_every
                or time.monotonic() - when >= self.snapshot_seconds)

    def _write_snapshot(self) -> None:
        outcome = self.outcome
        state = self.files.write_snapshot(self.projection.name, self.projection.version, outcome)
        self._base = (outcome.seq, state)
        self._snapshot_at = (outcome.events, time.monotonic())

    def result(self) -> ProjectionState:
        """Return the current state as a ProjectionState (the state object is live, not a copy)."""
        outcome = self.outcome
        return ProjectionState(
            self.projection.name, outcome.seq, outcome.state, outcome.dead_letter_count,
            outcome.stopped, tuple(self.notices),
        )

    def close(self) -> None:
        """Release the lock file and, if this runner opened it, the log."""
        self._lock.close()
        if self._owns_log:
            self._log.close()

    def __enter__(self) -> "Runner":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------- one-call API

def catch_up(loki_dir: Path, projection: Projection, write_views: bool = True) -> ProjectionState:
    """Bring a projection up to the log's head, write its snapshot and views, and return its state."""
    with Runner(loki_dir, projection) as runner:
        return runner.catch_up(write_views, ingest=True, force_snapshot=True)


def state_at(loki_dir: Path, projection: Projection, *, seq: int | None = None,
             timestamp: str | None = None) -> ProjectionState:
    """Return a projection's state as of a seq or a timestamp (inclusive), without writing anything.

    A timestamp selects the longest prefix of the log whose events are all at or before it:
    the log's order is the truth, and one writer's clock running behind must not hide the
    events after it.
    """
    if seq is not None and timestamp is not None:
        raise InvalidEventError("give a seq or a timestamp, not both")
    with FileEventLog(loki_dir) as log:
        target = seq if timestamp is None else seq_at(log, timestamp)
        if target is not None and (not isinstance(target, int) or target < 0):
            raise InvalidEventError(f"seq must be an integer >= 0, got {target!r}")
        with Runner(loki_dir, projection, log=log) as runner:
            if target is not None and runner.outcome.seq > target:
                runner.outcome = runner._initial()  # the snapshot is past the point asked for
            runner.advance(target)
            return runner.result()


def seq_at(log: FileEventLog, timestamp: str) -> int:
    """Return the seq of the last event of the longest prefix timestamped at or before ``timestamp``."""
    try:
        limit = parse_timestamp(timestamp)
    except ValueError as exc:
        raise InvalidEventError(f"not a timestamp: {timestamp!r} ({exc})") from None
    last = 0
    for event in log.read_raw():
        try:
            if parse_timestamp(event.timestamp) > limit:
                break
        except ValueError:
            pass  # an unparseable timestamp does not end the prefix; its neighbours decide
        last = event.seq
    return last


class RunnerGroup:
    """Runners over one log that catch up together, in one pass (see the module docstring)."""

    def __init__(self, runners: Iterable[Runner], log: FileEventLog) -> None:
        self.runners = list(runners)
        self._log = log
        self._scanner = log.scanner()  # one read position for the group, kept between passes

    def advance(self, to_seq: int | None = None, *, progress: Progress | None = None) -> None:
        """Fold the events after each runner's position (up to ``to_seq``) into it."""
        _advance(self.runners, self._log, self._scanner, to_seq, progress)


def _advance(runners: list[Runner], log: FileEventLog, scanner, to_seq: int | None,
             progress: Progress | None) -> None:
    moving = [r for r in runners if to_seq is None or r.outcome.seq < to_seq]
    lanes = [r.lane() for r in moving]
    if not lanes:
        return
    start = min(lane.start for lane in lanes)
    batches = scanner.batches(start, to_seq, wanted_types(lanes))
    ticking = [r for r in runners if r.snapshot_every > 0]
    if progress is not None:
        total, label = to_seq if to_seq is not None else log.head_seq, group_label(runners)

    def tick(lanes: list[Lane]) -> None:
        for runner in ticking:
            runner._tick()
        if progress is not None:
            done = max(lane.outcome.seq for lane in lanes)
            progress(label, done, max(total, done))

    fold_batches(lanes, batches, tick if ticking or progress is not None else None)
    for runner, lane in zip(moving, lanes):
        runner.folded(lane)


def group_label(runners: list[Runner]) -> str:
    """How progress names a pass: the projection, or how many there are."""
    return runners[0].projection.name if len(runners) == 1 else f"{len(runners)} projections"


def _ingest_if_free(log: FileEventLog) -> None:
    # As readers do: move the drop box into the log first, but never wait for the lock. Loki
    # Mode's files stay in pending/: whether anything changed is the ingester's question, asked
    # without loading the ingester (eventlog/ingest_watch.py), which `lokilog status` rarely needs.
    if not log.changes().changed_parts():
        return
    try:
        log.ingest_pending(timeout=0)
    except (LockTimeoutError, LogCorruptedError, PermissionError):
        pass  # a writer holds the lock (and ingests), or a read-only reader still reads


__all__ = [
    "ProjectionState", "ProjectionStoppedError", "Runner", "RunnerGroup", "catch_up", "group_label",
    "project", "seq_at", "state_at",
]
