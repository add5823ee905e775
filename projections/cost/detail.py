"""The detailed cost ledger: tasks tallied by every dimension, folded from the log for one report.

The ledger's state keeps a task's tokens by provider and model only (``state.TASK_DIMENSIONS``),
so that it is bounded by the tasks of a run, not by its length. A breakdown that needs more of a
task (its hours, days, agent types or sessions, or its usage since an hour: ``report.needs_detail``)
reads the log's usage events again, up to the seq the ledger is at, and folds them into a
detailed state: the same counts, cut finer. It costs one pass over the log, paid by that report only.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from eventlog import EventFilter

from .projection import CostProjection
from .state import CostState

_USAGE = EventFilter.build(types=["metric"])


def detailed_state(log, to_seq: int | None = None) -> CostState:
    """Fold the log's usage events up to ``to_seq`` into a detailed cost state."""
    projection = CostProjection(detailed=True)
    state = projection.initial()
    apply = projection.apply
    for event in log.read(1, to_seq, filter=_USAGE):
        try:
            state = apply(state, event)
        except Exception:  # noqa: BLE001 - a poison event, skipped as the engine's dead-letter policy does
            continue
    return state


def state_for(loki_dir: Path, state: CostState, seq: int, by: Iterable[str], since_hour: str | None = None) -> CostState:
    """``state`` (the ledger at ``seq``) itself, or the detailed state at ``seq`` when the breakdown needs it."""
    from eventlog import FileEventLog

    from .report import needs_detail

    if not needs_detail(by, since_hour):
        return state
    with FileEventLog(loki_dir) as log:
        return detailed_state(log, seq)
