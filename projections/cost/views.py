"""The cost ledger's materialized view: `.loki/cost/summary.json`.

A function of the state and the price table alone (prices come from `.loki/config.yaml`), so a
rebuild writes the same bytes. Money is written as exact decimal strings.
"""
from __future__ import annotations

from pathlib import Path

import msgspec

from eventlog.fsutil import atomic_write

from .state import CostState
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


def write_cost_views(state: CostState, loki_dir: Path) -> None:
    """Write `.loki/cost/summary.json` atomically."""
    target = Path(loki_dir) / "cost" / "summary.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    # Not fsynced, like the run state's views: rebuilt from the log, rewritten at every engine start.
    atomic_write(target, _encoder.encode(summary(state, load_prices(loki_dir))) + b"\n", durable=False)
