"""Breakdowns of the cost ledger: sum cells by any dimensions and price them. Pure.

Money is summed per model from exact token counts and exact ``Decimal`` prices; a group whose
tokens include an unpriced model or an incomplete event carries an ``unknown_events`` count,
so "unknown" is never shown as $0.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import Any, Callable, Iterable

from .cost import (
    CACHE_READ, CACHE_WRITE, DIMENSIONS, EVENTS, INCOMPLETE, INPUT, OUTPUT, READ_EVENTS, SEP,
    WRITE_EVENTS, CostState,
)
from .pricing import KINDS, PriceTable, cost_of

#: What ``--by`` accepts: the cell dimensions, plus the day (derived from the hour).
GROUPS = ("model", "provider", "agent", "task", "session", "hour", "day")


@dataclass
class Tally:
    """Tokens and money of one group."""

    key: tuple[str, ...]
    events: int = 0
    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0
    incomplete: int = 0
    usd: Decimal = field(default_factory=Decimal)
    unknown_events: int = 0

    @property
    def tokens(self) -> int:
        return self.input + self.output + self.cache_read + self.cache_write

    @property
    def usd_known(self) -> bool:
        """True when every event of the group has a price and complete counts."""
        return self.unknown_events == 0

    def to_dict(self, by: Iterable[str]) -> dict[str, Any]:
        return {
            **dict(zip(by, self.key)), "events": self.events, "input_tokens": self.input,
            "output_tokens": self.output, "cache_read_tokens": self.cache_read,
            "cache_write_tokens": self.cache_write, "tokens": self.tokens,
            "incomplete_events": self.incomplete,
            # Exact decimal as a string; null when nothing of the group could be priced.
            "usd": None if self.events and self.unknown_events >= self.events else str(self.usd),
            "usd_complete": self.usd_known, "unknown_cost_events": self.unknown_events,
        }


def cells(state: CostState, since_hour: str | None = None) -> Iterable[tuple[dict[str, str], list[int]]]:
    """Yield (dimensions, counters) of every cell, optionally from an hour on."""
    for key, counters in state.cells.items():
        parts = key.split(SEP)
        if since_hour is not None and (parts[0] == "unknown" or parts[0] < since_hour):
            continue
        dims = dict(zip(DIMENSIONS, parts))
        dims["day"] = parts[0][:10] if parts[0] != "unknown" else "unknown"
        yield dims, counters


def breakdown(state: CostState, prices: PriceTable, by: tuple[str, ...] = ("model",),
              since_hour: str | None = None, keep: Callable[[dict[str, str]], bool] | None = None) -> list[Tally]:
    """Sum the ledger by the ``by`` dimensions and price each group; sorted by key."""
    groups: dict[tuple[str, ...], Tally] = {}
    price_cache: dict[str, Any] = {}
    with localcontext() as ctx:
        ctx.prec = 60  # sums stay exact: no rounding anywhere in the ledger
        for dims, counters in cells(state, since_hour):
            if keep is not None and not keep(dims):
                continue
            key = tuple(dims[name] for name in by)
            tally = groups.get(key)
            if tally is None:
                tally = groups[key] = Tally(key)
            _add(tally, counters, _price(prices, price_cache, dims["model"]))
    return [groups[k] for k in sorted(groups)]


def total(state: CostState, prices: PriceTable, since_hour: str | None = None) -> Tally:
    """Return the whole ledger as one group."""
    found = breakdown(state, prices, (), since_hour)
    return found[0] if found else Tally(())


def _price(prices: PriceTable, cache: dict[str, Any], model: str):
    if model not in cache:
        cache[model] = prices.lookup(model)
    return cache[model]


def _add(tally: Tally, counters: list[int], price) -> None:
    tally.events += counters[EVENTS]
    tally.input += counters[INPUT]
    tally.output += counters[OUTPUT]
    tally.cache_read += counters[CACHE_READ]
    tally.cache_write += counters[CACHE_WRITE]
    tally.incomplete += counters[INCOMPLETE]
    tokens = dict(zip(KINDS, (counters[INPUT], counters[OUTPUT], counters[CACHE_READ], counters[CACHE_WRITE])))
    cost, unpriced = cost_of(price, tokens)
    tally.usd += cost  # what is priced; with unknown_events > 0 it is a lower bound
    if price is None or "input" in unpriced or "output" in unpriced:
        tally.unknown_events += counters[EVENTS]
        return
    unknown = counters[INCOMPLETE]
    unknown += counters[READ_EVENTS] if "cache_read" in unpriced else 0
    unknown += counters[WRITE_EVENTS] if "cache_write" in unpriced else 0
    tally.unknown_events += min(unknown, counters[EVENTS])
