"""Text for `lokilog cost`: the breakdown table, budget bars and a spend chart. Pure."""
from __future__ import annotations

from decimal import Decimal

from projections.cost.budgets import WindowSpend
from projections.cost.report import Tally
from projections.cost.pricing import format_usd

from .output import table

BAR = 24


def cost_table(tallies: list[Tally], by: tuple[str, ...], overall: Tally) -> str:
    """The breakdown, one row per group, and a total row."""
    headers = [*by, "events", "input", "output", "cache_read", "cache_write", "tokens", "usd"]
    rows = [_row(list(t.key), t) for t in tallies]
    if len(tallies) > 1 or not tallies:
        rows.append(_row(["TOTAL"] + [""] * (len(by) - 1), overall))
    return table(rows, headers)


def _row(key: list[str], t: Tally) -> list[str]:
    counts = [t.events, t.input, t.output, t.cache_read, t.cache_write, t.tokens]
    return [*key, *(f"{n:,}" for n in counts), format_usd(t.usd, t.unknown_events, t.events)]


def budget_lines(spends: list[WindowSpend]) -> str:
    """One bar per budget (its current window): used, remaining percent, spent of limit."""
    if not spends:
        return "no budgets (add a `resource` section with max_tokens or max_usd to .loki/policies.yaml)"
    width = max(len(s.budget.name) for s in spends)
    return "\n".join(_budget_line(s, width) for s in spends)


def _budget_line(spend: WindowSpend, width: int) -> str:
    used = min(spend.percent, Decimal(100))
    filled = int(used * BAR / 100)
    bar = "█" * filled + "░" * (BAR - filled)
    unit = spend.budget.unit
    amount = (f"{int(spend.spent):,} / {int(spend.budget.limit):,} tokens" if unit == "tokens"
              else f"${spend.spent.quantize(Decimal('0.01')):,} / ${spend.budget.limit:,}")
    flag = "  EXCEEDED -> " + spend.budget.on_exceed if spend.exceeded else ""
    partial = "  (lower bound: some spend unknown)" if spend.partial else ""
    return (f"{spend.budget.name:<{width}}  [{bar}] {spend.percent.quantize(Decimal('0.1')):>6}% used  "
            f"{spend.remaining_percent.quantize(Decimal('0.1')):>5}% left  {amount}  ({spend.window}){flag}{partial}")


def recorded_alerts(fired: dict) -> str:
    """One line on the budget events already in the log, naming the latest."""
    if not fired:
        return "no budget alerts recorded yet (lokilog cost check records those due)"
    latest = max(fired.values(), key=lambda e: e["seq"])
    what = f"{latest.get('threshold')}%" if latest["kind"] == "alert" else "exceeded"
    return (f"{len(fired)} budget event(s) recorded; latest: {latest.get('budget')} {what} "
            f"({latest.get('window')}) at seq {latest['seq']}")


def spend_chart(tallies: list[Tally], limit: int = 24) -> str:
    """Horizontal bars of priced spend per time bucket (the latest ``limit`` buckets)."""
    recent = tallies[-limit:]
    if not recent:
        return "no usage yet"
    top = max((t.usd for t in recent), default=Decimal(0))
    lines = []
    for t in recent:
        filled = int(t.usd * BAR / top) if top else 0
        label = format_usd(t.usd, t.unknown_events, t.events)
        lines.append(f"{t.key[0]:<13}  {'█' * filled:<{BAR}}  {label}  {t.tokens:,} tokens")
    return "\n".join(lines)
