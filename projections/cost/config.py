"""Reading cost settings from `.loki/`: prices from config.yaml, budgets from policies.yaml.

Each file may also be named ``.yml`` or ``.json`` (eventlog/settings_files.py, the same for every
feature). The only I/O of the cost feature besides the log; everything it returns is checked by
the pure parsers, which name the file and field that is wrong.
"""
from __future__ import annotations

from pathlib import Path

from eventlog import settings_files

from .budgets import Budget, parse_budgets
from .pricing import PriceTable, parse_price_table

CONFIG = "config"
POLICIES = "policies"


def load_prices(loki_dir: Path) -> PriceTable:
    """Return the default price table overridden by `.loki/config.yaml` (if any)."""
    return parse_price_table(settings_files.load(Path(loki_dir), CONFIG)[0])


def load_budgets(loki_dir: Path) -> list[Budget]:
    """Return the budgets of `.loki/policies.yaml` (none when there is no file)."""
    return parse_budgets(settings_files.load(Path(loki_dir), POLICIES)[0])
