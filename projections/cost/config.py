"""Reading cost settings from `.loki/`: prices from config.yaml, budgets from policies.yaml/json.

The only I/O of the cost feature besides the log; everything it returns is checked by the pure
parsers, which name the file and field that is wrong.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eventlog import InvalidEventError
from eventlog.safeio import read_small

from .budgets import Budget, parse_budgets
from .pricing import PriceTable, parse_price_table

CONFIG_FILES = ("config.yaml", "config.yml", "config.json")
POLICY_FILES = ("policies.yaml", "policies.yml", "policies.json")


def load_prices(loki_dir: Path) -> PriceTable:
    """Return the default price table overridden by `.loki/config.yaml` (if any)."""
    return parse_price_table(_load_first(Path(loki_dir), CONFIG_FILES))


def load_budgets(loki_dir: Path) -> list[Budget]:
    """Return the budgets of `.loki/policies.yaml` or `.json` (none when there is no file)."""
    return parse_budgets(_load_first(Path(loki_dir), POLICY_FILES))


def _load_first(loki_dir: Path, names: tuple[str, ...]) -> dict[str, Any] | None:
    for name in names:
        path = loki_dir / name
        try:
            text = read_small(path, follow_links=True, json_depth_limit=None).decode("utf-8")
        except FileNotFoundError:
            continue
        return _parse(path, text)
    return None


def _parse(path: Path, text: str) -> dict[str, Any]:
    import yaml  # imported here: only commands that read budgets or prices pay for it

    try:
        doc = (json.loads(text) if text.strip() else {}) if path.suffix == ".json" else yaml.safe_load(text) or {}
    except (ValueError, yaml.YAMLError) as exc:
        raise InvalidEventError(f"{path}: cannot parse: {exc}".splitlines()[0]) from exc
    if not isinstance(doc, dict):
        raise InvalidEventError(f"{path}: expected a mapping at the top level")
    return doc
