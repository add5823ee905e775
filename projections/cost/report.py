"""Breakdowns of the cost ledger: sum cells by any dimensions and price them. Pure.

Money is summed per model from exact token counts and exact ``Decimal`` prices; a group whose
tokens include an unpriced model or an incomplete event carries an ``unknown_events`` count,
so "unknown" is never shown as $0.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import Any, Callable, Iterable

from .state import (
    CACHE_READ, CACHE_WRITE, DIMENSIONS, EVENTS, INCOMPLETE, INPUT, OUTPUT, READ_EVENTS, REP_INPUT, REP_OUTPUT,
    REP_READ, REP_WRITE, REPORTED, REPORTED_NANOS, SEP, WRITE_EVENTS, CostState,
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


#: Position of each groupable dimension in a split cell (the day is appended after the six).
POSITION = {**{name: i for i, name in enumerate(DIMENSIONS)}, "day": len(DIMENSIONS)}
MODEL = POSITION["model"]


#: Dimensions that, beside the task, only a detailed state tallies (state.TASK_DIMENSIONS).
_DETAIL = frozenset(("hour", "day", "agent", "session"))


def needs_detail(by: Iterable[str], since_hour: str | None = None) -> bool:
    """Whether a breakdown needs a detailed state: tasks by hour, day, agent or session, or since an hour."""
    by = set(by)
    return "task" in by and (since_hour is not None or bool(by & _DETAIL))


def cells(state: CostState, since_hour: str | None = None, tasks: bool = False) -> list[tuple[list[str], list[int]]]:
    """Return (parts, counters) of every cell, optionally from an hour on; parts by POSITION.

    Without ``tasks`` the cells have no task (its part is "*"): they are far fewer. With it, a
    state that is not detailed has no hour, agent or session either ("*").
    """
    found = []
    compact = tasks and not state.detailed
    if compact and since_hour is not None:
        raise ValueError("tasks since an hour need a detailed cost state (report.needs_detail)")
    for key, counters in (state.task_cells if tasks else state.cells).items():
        parts = key.split(SEP)
        if compact:
            provider, model, task = parts
            parts = ["*", provider, model, "*", "*", task, "*"]
            found.append((parts, counters))
            continue
        if not tasks:
            parts.append("*")
        hour = parts[0]
        if since_hour is not None and (hour == "unknown" or hour < since_hour):
            continue
        parts.append(hour[:10] if hour != "unknown" else "unknown")
        found.append((parts, counters))
    return found


def breakdown(state: CostState, prices: PriceTable, by: tuple[str, ...] = ("model",),
              since_hour: str | None = None, keep: Callable[[list[str]], bool] | None = None,
              rows: list[tuple[list[str], list[int]]] | None = None) -> list[Tally]:
    """Sum the ledger by the ``by`` dimensions and price each group; sorted by key.

    Counts are summed as integers per (group, model) first and priced once per pair: cost is
    linear in tokens, so this is exact and keeps Decimal work independent of the cell count.
    ``rows`` lets a caller that makes several breakdowns split the cells only once (they must
    include tasks when ``by`` does).
    """
    if needs_detail(by, since_hour) and not state.detailed and rows is None:
        raise ValueError(f"a breakdown by {', '.join(by)} needs a detailed cost state (report.needs_detail)")
    positions = [POSITION[name] for name in by]
    sums: dict[tuple[str, ...], dict[str, list[int]]] = {}
    if rows is None:
        rows = cells(state, since_hour, tasks="task" in by)
    for parts, counters in rows:
        if keep is not None and not keep(parts):
            continue
        per_model = sums.setdefault(tuple([parts[i] for i in positions]), {})
        acc = per_model.get(parts[MODEL])
        if acc is None:
            per_model[parts[MODEL]] = list(counters)
        else:
            for i, n in enumerate(counters):
                acc[i] += n
    price_cache: dict[str, Any] = {}
    found = []
    with localcontext() as ctx:
        ctx.prec = 60  # sums stay exact: no rounding anywhere in the ledger
        for key in sorted(sums):
            tally = Tally(key)
            for model, acc in sums[key].items():
                _add(tally, acc, _price(prices, price_cache, model))
            found.append(tally)
    return found


def total(state: CostState, prices: PriceTable, since_hour: str | None = None) -> Tally:
    """Return the whole ledger as one group."""
    found = breakdown(state, prices, (), since_hour)
    return found[0] if found else Tally(())


def _price(prices: PriceTable, cache: dict[str, Any], model: str):
    if model not in cache:
        cache[model] = prices.lookup(model)
    return cache[model]


def _from_nanos(nanos: int) -> Decimal:
    """Nano-dollars as the shortest exact Decimal in plain notation (15, not 1.5E+1)."""
    return Decimal(format(Decimal(nanos).scaleb(-9).normalize(), "f"))


def _add(tally: Tally, counters: list[int], price) -> None:
    tally.events += counters[EVENTS]
    tally.input += counters[INPUT] + counters[REP_INPUT]
    tally.output += counters[OUTPUT] + counters[REP_OUTPUT]
    tally.cache_read += counters[CACHE_READ] + counters[REP_READ]
    tally.cache_write += counters[CACHE_WRITE] + counters[REP_WRITE]
    tally.incomplete += counters[INCOMPLETE]
    # Events whose writer reported their cost are that cost; only the others are priced.
    if counters[REPORTED_NANOS]:
        tally.usd += _from_nanos(counters[REPORTED_NANOS])
    priced_events = counters[EVENTS] - counters[REPORTED]
    tokens = dict(zip(KINDS, (counters[INPUT], counters[OUTPUT], counters[CACHE_READ], counters[CACHE_WRITE])))
    cost, unpriced = cost_of(price, tokens)
    tally.usd += cost  # what is priced; with unknown_events > 0 it is a lower bound
    if price is None or "input" in unpriced or "output" in unpriced:
        tally.unknown_events += priced_events
        return
    unknown = counters[INCOMPLETE]
    unknown += counters[READ_EVENTS] if "cache_read" in unpriced else 0
    unknown += counters[WRITE_EVENTS] if "cache_write" in unpriced else 0
    tally.unknown_events += min(unknown, priced_events)
