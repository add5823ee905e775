"""`lokilog learn ...`: outcomes, patterns and the suggestions learned from them."""
from __future__ import annotations

import typer

from .context import loki_dir

HELP = """\
Learn from outcomes: every run is classified (success, failure, partial) and its patterns are
counted (gate failure rates per gate and mode, flaky gates, retry success, cost per successful
task) in the `outcomes` projection. When a pattern crosses a rule (docs/GOVERNANCE-HEALING.md)
`learn suggest` records a governance.suggestion and opens an approval for it; once a person
grants it (`lokilog approve ID`), `learn apply` records governance.suggestion_applied and the
gate pipeline reads it from .loki/state/outcomes/applied.json.

Examples:

\b
  lokilog learn status --json       the patterns and every suggestion with its status
  lokilog learn suggest             record what the rules suggest now (each suggestion once)
  lokilog approve apr-sug-...       a person accepts one
  lokilog learn apply               apply the accepted ones
"""

learn_app = typer.Typer(help=HELP, no_args_is_help=True, rich_markup_mode=None)


def register(app: typer.Typer) -> None:
    from .demo_cli import add_section

    app.add_typer(learn_app, name="learn")
    add_section("Healing and learning (lokilog learn)", _demo)


def _demo(root) -> str:
    from .demo_healing import run_healing_demo

    return run_healing_demo(root)


@learn_app.command()
def status(ctx: typer.Context, json: bool = typer.Option(False, "--json", help="Print the summary view as JSON.")) -> None:
    """Show run outcomes, the patterns and the suggestions (writes the outcomes views)."""
    from projections.outcomes.state import summary

    from .errors import message_for
    from .learning import read_outcomes
    from .output import echo_json

    state, error = read_outcomes(loki_dir(ctx))
    if error is not None:
        typer.echo(f"lokilog: warning: could not refresh the outcomes views ({message_for(error)}); "
                   "showing the state read from the log and the snapshot on disk", err=True)
    view = summary(state)
    if json:
        echo_json(view)
        return
    runs = ", ".join(f"{k} {v}" for k, v in sorted(view["runs"].items())) or "none ended yet"
    retries = view["retries"]
    lines = [f"runs: {runs}",
             f"retries: {retries['episodes']} task(s) retried, {retries['succeeded']} then completed",
             f"successful tasks: {view['successful_tasks']['tasks']}, "
             f"tokens per task {view['successful_tasks']['tokens_per_task']}"]
    for gate, modes in sorted(view["gates"].items()):
        rates = ", ".join(f"{mode} {t['reject']}/{t['evaluated']} rejected" for mode, t in sorted(modes.items()))
        lines.append(f"gate {gate}: {rates}")
    for s in view["suggestions"]:
        lines.append(f"suggestion {s['id']} [{s['status']}]: {s['reason']} (approval {s['approval_id']})")
    typer.echo("\n".join(lines))


@learn_app.command()
def suggest(ctx: typer.Context, json: bool = typer.Option(False, "--json", help="Print the new suggestions as JSON.")) -> None:
    """Record each suggestion the rules make now (once each) and open its approval."""
    from .learning import suggest as record
    from .output import echo_json

    made = record(loki_dir(ctx))
    if json:
        echo_json(made)
    elif not made:
        typer.echo("no new suggestion")
    for s in [] if json else made:
        typer.echo(f"suggested {s['id']}: {s['reason']}; approve with: lokilog approve {s['approval_id']}")


@learn_app.command("apply")
def apply_(ctx: typer.Context, json: bool = typer.Option(False, "--json", help="Print the applied suggestions as JSON.")) -> None:
    """Apply every suggestion whose approval was granted (recorded as governance.suggestion_applied)."""
    from .learning import apply_granted
    from .output import echo_json

    applied = apply_granted(loki_dir(ctx))
    if json:
        echo_json(applied)
        return
    typer.echo("\n".join(f"applied {s['id']}: {s['kind']} {s['gate']} {s['key'] or ''} {s['value']}".rstrip()
                         for s in applied) or "nothing to apply")
