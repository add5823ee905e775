"""The cost ledger: tokens and spend folded from the log, priced, budgeted and rendered as views.

`projection` is the fold (name `cost`); `pricing` the price tables; `report` the breakdowns;
`budgets` the budget windows and their alerts; `config` reads prices and budgets from `.loki/`;
`views` writes the materialized views.
"""
from .projection import CostProjection, CostState

__all__ = ["CostProjection", "CostState"]
