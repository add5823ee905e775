"""The cost ledger's materialized view: `.loki/cost/summary.json`.

A function of the state and the price table alone (prices come from `.loki/config.yaml`), so a
rebuild writes the same bytes. Money is written as exact decimal strings.
"""
from __future__ import annotations

from pathlib import Path

import msgspec

from ..view_files import WrittenFiles
from .state import EVENTS, CostState
from .config import load_prices
from .report import Tally, breakdown, cells

VIEW_DIMENSIONS = ("model", "provider", "agent", "session", "day")
_encoder = msgspec.json.Encoder(order="sorted")


def summary(state: CostState, prices) -> dict:
    """Return the totals and the breakdown by each view dimension."""
    rows = cells(state)
    overall = breakdown(state, prices, (), rows=rows)
    return {
        "total": overall[0].to_dict(()) if overall else Tally(()).to_dict(()),
        **{f"by_{name}": [t.to_dict((name,)) for t in breakdown(state, prices, (name,), rows=rows)]
           for name in VIEW_DIMENSIONS},
        "budget_events": [dict(v, id=k) for k, v in sorted(state.fired.items(), key=lambda kv: kv[1]["seq"])],
    }


def changes(state: CostState) -> int:
    """A count that grows with every event that changed the state (usage counted, budget events)."""
    return sum(counters[EVENTS] for counters in state.cells.values()) + len(state.fired)


def write_cost_views(state: CostState, loki_dir: Path, files: WrittenFiles | None = None) -> None:
    """Write `.loki/cost/summary.json` atomically (``files``: skip it when nothing changed)."""
    target = Path(loki_dir) / "cost" / "summary.json"
    files = files or WrittenFiles()
    prices = load_prices(loki_dir)
    count = (changes(state), prices)
    if files.current(target, state, count):
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    # Not fsynced, like the run state's views: rebuilt from the log, rewritten at every engine start.
    files.write(target, _encoder.encode(summary(state, prices)) + b"\n", durable=False, state=state,
                changes=count)
