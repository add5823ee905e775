"""Rebuilding projections from seq 1, in one pass over the log, then swapping in their files.

The new states are folded in memory while the old snapshots stay in place for readers;
each snapshot is then replaced atomically and its views rewritten. A crash before the
swap leaves the old snapshot, a crash after it views that the next catch-up rewrites.
Projections that keep block memos (`blocks.py`) take the blocks of the log they folded in an
earlier rebuild from there; the others fold every event as ever.
"""
from __future__ import annotations

import gc
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from eventlog import FileEventLog, LockTimeoutError

from ..base import Projection
from .blocks import fold_blocks, memo_key, write_memo
from .runner import Progress, ProjectionState, Runner, RunnerGroup, group_label


def rebuild(loki_dir: Path, projections: Iterable[Projection], *, progress: Progress | None = None) -> list[ProjectionState]:
    """Rebuild projections from seq 1 in one pass, then replace their snapshots and views (see above)."""
    with FileEventLog(loki_dir) as log:
        # snapshot_every=0: nothing is written until the fold is done (the old files stay).
        runners = [Runner(loki_dir, p, log=log, fresh=True, snapshot_every=0) for p in projections]
        try:
            with _fewer_collections():
                recorded = _fold(Path(loki_dir), log, runners, progress)
            if progress is not None and runners:
                seq = max(r.outcome.seq for r in runners)
                progress(group_label(runners), seq, seq)
            for runner in runners:
                if not runner.save(force=True, views=True, overwrite=True):
                    raise LockTimeoutError(f"projection {runner.projection.name}: another process kept its lock; not rebuilt")
            for runner, blocks in recorded:
                write_memo(Path(loki_dir), runner.projection, blocks)
            return [runner.result() for runner in runners]
        finally:
            for runner in runners:
                runner.close()


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Collect cyclic garbage less often while a rebuild folds: each collection walks the
    young objects and, now and then, every live one, and a rebuild keeps millions of them
    alive (states, decoded batches) that are never garbage. Freezing what exists before the
    fold (modules, the log) keeps the collector off it; the settings are restored after."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def _fold(loki_dir: Path, log: FileEventLog, runners: list[Runner], progress: Progress | None):
    """Fold every runner to the log's head; return (runner, blocks) for those that keep block memos."""
    if not any(memo_key(r.projection) is not None for r in runners):
        RunnerGroup(runners, log).advance(progress=progress)
        return []
    lanes = [r.lane() for r in runners]
    tick = None
    if progress is not None:
        total, label = log.head_seq, group_label(runners)

        def tick(lanes) -> None:
            done = max(lane.outcome.seq for lane in lanes)
            progress(label, done, max(total, done))

    recorded = fold_blocks(loki_dir, log.paths.log_dir, lanes, tick)
    for runner, lane in zip(runners, lanes):
        runner.folded(lane)
    return [(runner, recorded[id(lane)]) for runner, lane in zip(runners, lanes) if id(lane) in recorded]


__all__ = ["rebuild"]
