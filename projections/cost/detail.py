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

from ..engine.fold import FoldOutcome, fold
from .projection import CostProjection
from .state import CostState

_USAGE = EventFilter.build(types=["metric"])


def detailed_state(log, to_seq: int | None = None) -> CostState:
    """Fold the log's usage events up to ``to_seq`` into a detailed cost state."""
    # The engine's fold, so that a poison event is met with the ledger's own policy.
    projection = CostProjection(detailed=True)
    events = log.read(1, to_seq, filter=_USAGE)
    return fold(projection, FoldOutcome(projection.initial(), 0), events, restore=lambda seq: None).state


def state_for(loki_dir: Path, state: CostState, seq: int, by: Iterable[str], since_hour: str | None = None) -> CostState:
    """``state`` (the ledger at ``seq``) itself, or the detailed state at ``seq`` when the breakdown needs it."""
    from eventlog import FileEventLog

    from .report import needs_detail

    if not needs_detail(by, since_hour):
        return state
    with FileEventLog(loki_dir) as log:
        return detailed_state(log, seq)
