"""`lokilog crash [show|submit]` and `lokilog telemetry off|on|status`."""
from __future__ import annotations

import typer

from .context import loki_dir
from .output import echo_json, table

CRASH_HELP = """\
Local crash reports: scrubbed, whitelist-only summaries of `error` events (crashes of lokilog
itself, and errors your tools emit), one per fingerprint with an occurrence count, kept in
.loki/crash/. Nothing is sent unless you run `crash submit` with LOKI_CRASH_ENDPOINT set.

\b
  lokilog crash                 list the reports (newest first)
  lokilog crash show ID         print exactly what would be sent (ID or a prefix of it)
  lokilog crash submit ID       print it and a prefilled new-issue URL; POST it to
                                $LOKI_CRASH_ENDPOINT only if you set one

See docs/PRIVACY.md for exactly what is collected.
"""

TELEMETRY_HELP = """\
One switch for all telemetry (crash capture and any sending), stored in ~/.loki/config.

\b
  lokilog telemetry off         stop capturing crashes; never send anything
  lokilog telemetry on          the default
  lokilog telemetry status      what is on, and which switch decided it

The environment overrides the stored setting: LOKI_TELEMETRY=off, LOKI_TELEMETRY_DISABLED=true
or DO_NOT_TRACK=1 turn everything off.
"""


def register(app: typer.Typer) -> None:
    crash = typer.Typer(help=CRASH_HELP, invoke_without_command=True, rich_markup_mode=None)
    crash.callback()(list_)
    crash.command()(show)
    crash.command()(submit)
    app.add_typer(crash, name="crash")
    telemetry = typer.Typer(help=TELEMETRY_HELP, no_args_is_help=True, rich_markup_mode=None)
    telemetry.command()(off)
    telemetry.command()(on)
    telemetry.command()(status)
    app.add_typer(telemetry, name="telemetry")
    from .demo_cli import add_section

    add_section("Crash reports (scrubbed, local only)", demo_section)


def _disclose() -> None:
    from .telemetry.consent import take_disclosure

    text = take_disclosure()
    if text:
        typer.echo(text + "\n", err=True)


def list_(ctx: typer.Context, json: bool = typer.Option(False, "--json", help="Print the reports as JSON.")) -> None:
    """List the local crash reports, newest first."""
    if ctx.invoked_subcommand is not None:
        return
    from .crash import reports as crash_reports

    root = loki_dir(ctx)
    crash_reports.refresh(root)
    found = crash_reports.load(root)
    if json:
        echo_json([{"id": r.id, **(r.body if isinstance(r.body, dict) else {"body": r.body})} for r in found])
        return
    if not found:
        typer.echo(f"No crash reports in {root / 'crash'}.")
        return
    rows = [_row(r) for r in found]
    typer.echo(table(rows, ["ID", "ERROR", "TOP FRAME", "COUNT", "LAST SEEN"]))


def _row(report) -> list:
    body = report.body if isinstance(report.body, dict) else {}
    payload = report.payload if isinstance(report.payload, dict) else {}
    frames = payload.get("stack_signature") or ["-"]
    return [report.id[:16] + report.id[64:], payload.get("error_class", "?"), frames[0],
            body.get("occurrences", "?"), body.get("last_seen", "?")]


def show(
    ctx: typer.Context,
    report_id: str = typer.Argument(..., metavar="ID", help="A report id or a prefix of it."),
    json: bool = typer.Option(False, "--json", help="Print the whole report file (payload and local counts)."),
) -> None:
    """Print exactly the payload `crash submit` would send; local counts go to stderr."""
    from .crash import reports as crash_reports

    root = loki_dir(ctx)
    crash_reports.refresh(root)
    report = crash_reports.find(root, report_id)
    if json:
        echo_json(report.body)
        return
    typer.echo(crash_reports.payload_text(report))
    body = report.body if isinstance(report.body, dict) else {}
    typer.echo(f"{report.id}: {body.get('occurrences', '?')} occurrence(s), first {body.get('first_seen')}, "
               f"last {body.get('last_seen')} (local only, not sent)", err=True)
    for problem in crash_reports.problems(report):
        typer.echo(f"lokilog: this report cannot be sent: {problem}", err=True)


def submit(
    ctx: typer.Context,
    report_id: str = typer.Argument(..., metavar="ID", help="A report id or a prefix of it."),
) -> None:
    """Print the payload and a prefilled new-issue URL; POST it only to $LOKI_CRASH_ENDPOINT if set.

    Refuses a report that is not marked scrubbed or whose payload is not exactly the
    whitelist (exit 1). With telemetry off nothing is sent.
    """
    from .crash import reports as crash_reports
    from .telemetry import consent as telemetry

    root = loki_dir(ctx)
    crash_reports.refresh(root)
    report = crash_reports.find(root, report_id)
    issues = crash_reports.problems(report)
    if issues:
        raise crash_reports.SubmitRefusedError(f"refusing to submit {report.id}: " + "; ".join(issues))
    typer.echo(crash_reports.payload_text(report))
    typer.echo(f"\nOpen an issue with it (nothing is sent by opening this):\n{crash_reports.issue_url(report)}")
    url = crash_reports.endpoint()
    if url is None:
        typer.echo(f"\nNot sent: {crash_reports.ENDPOINT_ENV} is not set.", err=True)
        return
    state = telemetry.status()
    if not state.enabled:
        raise crash_reports.SubmitRefusedError(f"not sent: telemetry is off ({state.reason})")
    _disclose()
    code = crash_reports.submit(root, report, url)
    typer.echo(f"\nSent to {url.split('://', 1)[-1].split('/', 1)[0]} (HTTP {code}).", err=True)


def off(json: bool = typer.Option(False, "--json")) -> None:
    """Turn all telemetry off (stored in ~/.loki/config)."""
    _set(False, json)


def on(json: bool = typer.Option(False, "--json")) -> None:
    """Turn telemetry back on (the environment can still turn it off)."""
    _set(True, json)


def _set(enabled: bool, json: bool) -> None:
    from .telemetry import consent as telemetry

    path = telemetry.set_enabled(enabled)
    state = telemetry.status()
    if json:
        echo_json({"enabled": state.enabled, "reason": state.reason, "config": str(path)})
        return
    typer.echo(f"Telemetry {'on' if enabled else 'off'} (stored in {path}).")
    if enabled and not state.enabled:
        typer.echo(f"Still off here: {state.reason}.")


def status(ctx: typer.Context, json: bool = typer.Option(False, "--json")) -> None:
    """Show whether telemetry is on and why, the disclosure flag, the endpoint and the local reports."""
    from .crash import reports as crash_reports
    from .telemetry import consent as telemetry

    state = telemetry.status()
    folder = loki_dir(ctx) / "crash"
    reports = len(list(folder.glob("*.json"))) if folder.is_dir() else 0
    try:
        url = crash_reports.endpoint()
    except Exception as error:  # noqa: BLE001 - a bad endpoint is reported, not fatal, here
        url = f"invalid ({error})"
    facts = {
        "enabled": state.enabled, "reason": state.reason, "config": str(telemetry.config_path()),
        "disclosure_shown": telemetry.disclosure_shown(), "endpoint": url, "crash_reports": reports,
        "crash_dir": str(folder),
    }
    if json:
        echo_json(facts)
        return
    typer.echo(f"telemetry:      {'on' if state.enabled else 'off'} ({state.reason})")
    typer.echo(f"config:         {facts['config']}")
    typer.echo(f"disclosure:     {'shown' if facts['disclosure_shown'] else 'not shown yet'}")
    typer.echo(f"endpoint:       {url or 'not set (nothing is ever sent)'}")
    typer.echo(f"crash reports:  {reports} in {folder}")


def demo_section(root) -> str:
    """The demo run's error event as a local crash report: what would be sent, and nothing else."""
    from .crash import reports as crash_reports

    crash_reports.refresh(root)
    found = crash_reports.load(root)
    if not found:
        return "No crash reports."
    lines = [table([_row(r) for r in found], ["ID", "ERROR", "TOP FRAME", "COUNT", "LAST SEEN"]),
             f"\nWhat `lokilog crash submit {found[0].id[:12]}` would send (only with LOKI_CRASH_ENDPOINT set):",
             crash_reports.payload_text(found[0])]
    return "\n".join(lines)
