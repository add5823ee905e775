"""Budget alerts: record `cost.alert` and `cost.budget_exceeded` events, each exactly once.

Exactly once holds across crashes, restarts, concurrent checkers and rebuilds because:
- an alert's event id is derived from (budget, threshold, window) only, and the log's
  idempotent append turns a second append of the same id into a no-op;
- the cost projection folds recorded alerts back into its state, so an alert already in the
  log, however old, is never due again (the log's id window alone would not cover that);
- spend only grows, so checking late, twice, or from a rebuilt state finds the same alerts.
The alert is itself the side effect's record: nothing outside the log is touched.
"""
from __future__ import annotations

from pathlib import Path

from eventlog import Event, FileEventLog, Receipt
from projections.cost.budgets import Budget, due_events
from projections.cost import CostProjection, CostState
from projections.cost.config import load_budgets, load_prices
from projections.cost.pricing import PriceTable

from .ledgers import LiveLedger


def record_due_alerts(log: FileEventLog, state: CostState, prices: PriceTable, budgets: list[Budget]) -> list[Receipt]:
    """Append every alert due for ``state`` (idempotent by id); return receipts of new ones."""
    drafts = due_events(state, prices, budgets)
    receipts = [log.append(d.type, d.source, d.payload, id=d.id) for d in drafts]
    return [r for r in receipts if r.status != "duplicate"]


def check_budgets(loki_dir: Path) -> list[Receipt]:
    """Bring the cost ledger up to the head and record the alerts it makes due."""
    budgets = load_budgets(loki_dir)
    if not budgets:
        return []
    prices = load_prices(loki_dir)
    ledger = LiveLedger(Path(loki_dir), CostProjection())
    with FileEventLog(loki_dir) as log:
        return ledger.read(lambda seq, state: record_due_alerts(log, state, prices, budgets))


class BudgetAlerts:
    """The subscriber the watch daemon drives: checks budgets after each token-usage event."""

    name = "cost-alerts"

    def __init__(self, loki_dir: Path) -> None:
        self.loki_dir = Path(loki_dir)
        self.budgets = load_budgets(self.loki_dir)
        self.prices = load_prices(self.loki_dir)
        self.ledger = LiveLedger(self.loki_dir, CostProjection())
        self.checked_seq = 0

    def handle(self, event: Event) -> None:
        """Record the alerts due once ``event`` is counted (the check folds to the head)."""
        if event.type != "metric" or event.payload.get("action") != "token_usage" or not self.budgets:
            return
        if event.seq <= self.checked_seq:
            return  # a check at the head already counted it: a backlog costs one check, not one each

        def check(seq: int, state: CostState) -> None:
            record_due_alerts(log, state, self.prices, self.budgets)
            self.checked_seq = seq

        with FileEventLog(self.loki_dir) as log:
            self.ledger.read(check)
