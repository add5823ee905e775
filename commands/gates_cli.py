"""`lokilog gates run|status`: the governance gate pipeline (docs/GOVERNANCE.md)."""
from __future__ import annotations

from typing import List, Optional

import typer

from .context import loki_dir
from .errors import bad_option

#: Exit codes of `lokilog gates run` (the verdict, not an error).
EXIT_PASSED, EXIT_REJECTED, EXIT_PAUSED = 0, 1, 3

HELP = """\
Governance gates: nine gates (security, quality, operations, plan_approval, tenant, consensus,
policy, budget, residency) judge the current run from the log and answer PASS, PAUSE or REJECT.
They are configured in .loki/governance.yaml (defaults without it); learned overrides come
from .loki/state/outcomes/applied.json. See docs/GOVERNANCE.md.

Examples:

\b
  lokilog gates run                       evaluate in the file's default mode (dev)
  lokilog gates run --mode prod --wait 600    wait up to 10 minutes for each approval
  lokilog approve apr-...                 answer the approval a PAUSE opened
  lokilog gates run --resume gr-...       carry on a paused run
  lokilog gates status --json
"""

gates_app = typer.Typer(help=HELP, no_args_is_help=True, rich_markup_mode=None)


def register(app: typer.Typer) -> None:
    from .doctor_cli import add_check

    app.add_typer(gates_app, name="gates")
    add_check("governance", _doctor_governance)


def _doctor_governance(paths):
    """Whether governance.yaml and the learned overrides load: a broken file stops every gate run."""
    from .doctor_cli import OK, PROBLEM, WARN, Section
    from .governance.config import GovernanceConfigError
    from .governance.overrides import load

    try:
        learned = load(paths.root)
    except GovernanceConfigError as error:
        return Section(PROBLEM, [f"gates cannot run: {error}"], {"error": str(error)})
    config = learned.config
    data = {"source": config.source, "digest": config.digest, "mode": config.default_mode,
            "overrides": len(learned.applied), "ignored_overrides": list(learned.ignored),
            "flaky_gates": sorted(learned.flaky)}
    lines = [f"{config.source} (default mode {config.default_mode}), {len(learned.applied)} learned override(s)"]
    lines += [f"learned override not applied: {item['reason']}" for item in learned.ignored]
    return Section(WARN if learned.ignored else OK, lines, data)


RUN_HELP = """\
Evaluate every gate in the mode's order and record each verdict (governance.gate_evaluated).

Any REJECT fails the run (governance.rejected, with reasons). Otherwise the first PAUSE opens
an approval (approval.requested): answer it with `lokilog approve ID`; the run continues only
after approval.granted. --wait SECONDS waits that long for each answer; without it a paused run
is carried on later with --resume RUN_ID. An approval not answered within governance.yaml's
approvals.timeout_seconds is denied, and the run rejected.

The caller is a control-plane token (--token, or LOKILOG_TOKEN; its role must be allowed in the
mode) or, without one, the event source (--source), checked against the allow-list.

Exit codes: 0 passed, 1 rejected, 3 paused (an approval is pending), 2 bad input.
"""


@gates_app.command("run", help=RUN_HELP)
def run(
    ctx: typer.Context,
    mode: Optional[str] = typer.Option(None, "--mode", "-m", help="dev, staging or prod (default: governance.yaml's mode)."),
    wait: float = typer.Option(0, "--wait", min=0, help="Seconds to wait for each approval's answer."),
    resume: Optional[str] = typer.Option(None, "--resume", metavar="RUN_ID", help="Carry on a paused run."),
    plan: Optional[str] = typer.Option(None, "--plan", help="The plan a plan approval approves (default: the run id)."),
    source: str = typer.Option("cli", "--source", "-s", help="Who asks, when no token is given: runner, cli, ..."),
    token: Optional[str] = typer.Option(None, "--token", envvar="LOKILOG_TOKEN", show_envvar=True,
                                        help="A control-plane token (lokilog token create)."),
    resource: List[str] = typer.Option([], "--resource", "-r", help="A resource the run will touch (repeatable)."),
    json: bool = typer.Option(False, "--json", help="Print the outcome and every gate's verdict as JSON."),
) -> None:
    from eventlog import FileEventLog

    from .governance.model import MODES
    from .governance.pipeline import resume_gates, run_gates
    from .output import echo_json

    if mode is not None and mode not in MODES:
        raise bad_option(ctx, "mode", f"{mode!r} is not one of {', '.join(MODES)}")
    if resume is not None and (mode is not None or plan is not None):
        from .errors import option_label

        raise bad_option(ctx, "resume", f"a resumed run keeps its mode and plan; leave out "
                                        f"{option_label(ctx, 'mode')} and {option_label(ctx, 'plan')}")
    root = loki_dir(ctx)
    with FileEventLog(root) as log:
        if resume is not None:
            outcome = resume_gates(log, root, resume, wait=wait, source=source, token=token, resources=tuple(resource))
        else:
            outcome = run_gates(log, root, mode=mode, wait=wait, plan=plan, source=source, token=token,
                                resources=tuple(resource))
    if json:
        echo_json(outcome.to_dict())
    else:
        typer.echo(_describe(outcome))
    raise typer.Exit({"passed": EXIT_PASSED, "rejected": EXIT_REJECTED}.get(outcome.status, EXIT_PAUSED))


def _describe(outcome) -> str:
    lines = [f"{r.verdict.value:<6} {r.gate:<13} {'; '.join(r.reasons)}" for r in outcome.results]
    head = f"gate run {outcome.run_id} ({outcome.mode}): {outcome.status.upper()}"
    if outcome.status == "paused":
        head += (f": {outcome.paused_gate} waits for approval {outcome.approval_id}\n"
                 f"  answer it: lokilog approve {outcome.approval_id}   then: lokilog gates run --resume {outcome.run_id}")
    elif outcome.status == "rejected":
        head += "".join(f"\n  {reason}" for reason in outcome.reasons)
    for item in outcome.ignored_overrides:
        head += f"\n  learned override not applied: {item['reason']}"
    return "\n".join(lines + [head])


@gates_app.command()
def status(
    ctx: typer.Context,
    limit: int = typer.Option(5, "-n", "--limit", min=1, help="Show the latest N runs."),
    json: bool = typer.Option(False, "--json", help="Print the runs as JSON."),
) -> None:
    """Show the latest gate runs: their mode, status, each gate's last verdict, and open approvals."""
    from eventlog import FileEventLog

    from .governance.pipeline import runs
    from .output import echo_json

    with FileEventLog(loki_dir(ctx)) as log:
        latest = list(runs(log).values())[-limit:]
    if json:
        echo_json({"runs": [r.to_dict() for r in latest]})
        return
    if not latest:
        typer.echo("no gate runs yet: lokilog gates run")
        return
    for gate_run in latest:
        typer.echo(f"{gate_run.run_id}  {gate_run.mode:<7} {gate_run.status.upper():<8} seq {gate_run.started_seq}"
                   f"-{gate_run.updated_seq}  plan {gate_run.plan}")
        verdicts = "  ".join(f"{g}={p.get('verdict')}" for g, p in gate_run.gates.items())
        typer.echo(f"  {verdicts}")
        if gate_run.approval_id:
            typer.echo(f"  {gate_run.paused_gate} waits for approval {gate_run.approval_id}")
        for reason in gate_run.reasons:
            typer.echo(f"  {reason}")
