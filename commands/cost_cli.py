"""`lokilog cost`: token and USD spend by model, provider, agent, task, session or time; budgets."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Optional

import typer

from .context import loki_dir
from .errors import bad_input, blame

COST_HELP = """\
Token usage and spend from the log's `metric.token_usage` events.

Money is exact decimal from the price table (public list prices by default; override them under
`cost.prices` in .loki/config.yaml). A model without a price, or an event missing a token count,
shows as "unknown", never $0. Budgets come from the `resource` section of .loki/policies.yaml.

Examples:

\b
  lokilog cost                          by model, budget bars, spend per hour
  lokilog cost --by agent,model --since 24h
  lokilog cost --by day --json
  lokilog cost check                    record the budget alerts now due
"""

_RELATIVE = re.compile(r"^(\d+)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def register(app: typer.Typer) -> None:
    from .demo_cli import add_section

    add_section("Cost (lokilog cost)", _demo_cost)
    group = typer.Typer(help=COST_HELP, invoke_without_command=True, no_args_is_help=False,
                        rich_markup_mode=None)
    group.callback(invoke_without_command=True)(cost)
    group.command("check")(check)
    app.add_typer(group, name="cost")


def cost(
    ctx: typer.Context,
    by: str = typer.Option("model", "--by", help="Group by one or more of: model, provider, agent, task, "
                           "session, hour, day (comma-separated)."),
    since: Optional[str] = typer.Option(None, "--since", help="Only usage from this time on: a timestamp "
                                        "(2026-02-21T10:00Z) or a duration back from now (30m, 24h, 7d). "
                                        "Tallies are hourly, so this starts at the hour containing it."),
    chart: bool = typer.Option(True, "--chart/--no-chart", help="Show spend over time as a bar chart."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object (exact decimal strings)."),
) -> None:
    """Show token usage and spend, budget bars with remaining percent, and spend over time."""
    if ctx.invoked_subcommand is not None:
        return
    from projections.cost.budgets import current, spend
    from projections.cost import CostProjection
    from projections.cost.config import load_budgets, load_prices
    from projections.cost.detail import state_for
    from projections.cost.report import breakdown, total
    from projections.engine import catch_up

    with blame(ctx, "by"):
        dims = _dimensions(by)
    with blame(ctx, "since"):
        since_hour = _since_hour(since)
    root = loki_dir(ctx)
    prices, budgets = load_prices(root), load_budgets(root)
    ledger = catch_up(root, CostProjection(), write_views=False)
    state = ledger.state
    tallies = breakdown(state_for(root, state, ledger.seq, dims, since_hour), prices, dims, since_hour)
    overall = total(state, prices, since_hour)
    windows = [current(spend(state, prices, b)) for b in budgets]
    if as_json:
        return _print_json(dims, since_hour, tallies, overall, windows, state)
    _print_text(state, prices, dims, since_hour, tallies, overall, windows, chart)


def check(ctx: typer.Context) -> None:
    """Record the budget alerts now due (each exactly once per budget, threshold and window)."""
    from subscribers.cost_alerts import check_budgets

    receipts = check_budgets(loki_dir(ctx))
    for receipt in receipts:
        typer.echo(f"recorded {receipt.id} ({receipt.status}{'' if receipt.seq is None else f' at seq {receipt.seq}'})")
    if not receipts:
        typer.echo("no new budget alerts")


def _dimensions(text: str) -> tuple[str, ...]:
    from projections.cost.report import GROUPS

    dims = tuple(part.strip() for part in text.split(",") if part.strip())
    wrong = [d for d in dims if d not in GROUPS]
    if not dims or wrong:
        raise bad_input(f"{text!r}: choose from {', '.join(GROUPS)}")
    return dims


def _since_hour(text: str | None, now: datetime | None = None) -> str | None:
    if text is None:
        return None
    match = _RELATIVE.match(text.strip())
    if match:
        moment = (now or datetime.now(timezone.utc)) - timedelta(**{_UNITS[match[2]]: int(match[1])})
    else:
        from eventlog import parse_timestamp

        try:
            moment = parse_timestamp(text)
        except ValueError:
            raise bad_input(f"{text!r}: expected a timestamp or a duration such as 30m, 24h, 7d") from None
    return moment.strftime("%Y-%m-%dT%H")


def _print_json(dims, since_hour, tallies, overall, windows, state) -> None:
    from .output import echo_json

    echo_json({
        "by": list(dims), "since_hour": since_hour,
        "rows": [t.to_dict(dims) for t in tallies], "total": overall.to_dict(()),
        "budgets": [w.to_dict() for w in windows],
        "budget_events": [dict(v, id=k) for k, v in sorted(state.fired.items(), key=lambda kv: kv[1]["seq"])],
    })


def _print_text(state, prices, dims, since_hour, tallies, overall, windows, chart) -> None:
    from projections.cost.report import breakdown

    from .cost_render import budget_lines, cost_table, recorded_alerts, spend_chart

    scope = f" since {since_hour}:00Z" if since_hour else ""
    typer.echo(f"Cost by {', '.join(dims)}{scope}\n")
    typer.echo(cost_table(tallies, dims, overall))
    typer.echo("\nBudgets\n" + budget_lines(windows))
    if windows:
        typer.echo(recorded_alerts(state.fired))
    if chart and overall.events:
        hours = breakdown(state, prices, ("hour",), since_hour)
        step = "hour" if len(hours) <= 48 else "day"
        series = hours if step == "hour" else breakdown(state, prices, ("day",), since_hour)
        typer.echo(f"\nSpend per {step}\n" + spend_chart(series))


def _demo_cost(root) -> str:
    from projections.cost import CostProjection
    from projections.cost.config import load_prices
    from projections.cost.report import breakdown, total
    from projections.engine import catch_up

    from .cost_render import cost_table

    state = catch_up(root, CostProjection(), write_views=False).state
    prices = load_prices(root)
    dims = ("model", "task")
    return cost_table(breakdown(state, prices, dims), dims, total(state, prices))
