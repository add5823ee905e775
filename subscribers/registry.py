"""Every subscriber lokilog may run, and which of them are enabled for a `.loki/`.

The watch daemon asks :func:`enabled_subscribers` and drains each with its durable cursor.
A subscriber that is not enabled costs nothing: no import, no thread.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

_OFF = ("0", "false", "no", "off")


def enabled_subscribers(loki_dir: Path, env: Mapping[str, str] | None = None) -> list:
    """Return fresh instances of the subscribers enabled by `.loki/` files and the environment."""
    env = os.environ if env is None else env
    found: list = []
    if env.get("LOKI_COST_ALERTS", "1").lower() not in _OFF and _has_policies(Path(loki_dir)):
        from projections.cost_config import load_budgets

        if load_budgets(loki_dir):
            from .cost_alerts import BudgetAlerts

            found.append(BudgetAlerts(loki_dir))
    return found


def _has_policies(loki_dir: Path) -> bool:
    from projections.cost_config import POLICY_FILES

    return any((loki_dir / name).exists() for name in POLICY_FILES)
