"""Tracker sync commands: `lokilog sync status|run|retry|link|import-epic` and `lokilog webhook serve`."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from .context import loki_dir
from .errors import bad_input
from .output import echo_json, table

SYNC_HELP = """\
Sync tasks to Jira, Linear and GitHub (off unless `.loki/config.yaml` has a `trackers:` section).

Link a task to an item, then let a drain send what the log implies (statuses, comments,
Jira sub-tasks). Credentials come only from environment variables (JIRA_EMAIL and
JIRA_API_TOKEN, LINEAR_API_KEY, GITHUB_TOKEN by default). See docs/TRACKERS.md.

\b
  lokilog sync link task-001 jira PROJ-12
  lokilog sync link task-001 github acme/app#42
  lokilog sync link task-001 github acme/app@3f2a9c1
  lokilog sync run              lokilog sync status --json
"""

sync_app = typer.Typer(help=SYNC_HELP, no_args_is_help=True, rich_markup_mode=None)
webhook_app = typer.Typer(help="Receive Jira, Linear and GitHub webhooks as events.",
                          no_args_is_help=True, rich_markup_mode=None)


def register(app: typer.Typer) -> None:
    app.add_typer(sync_app, name="sync")
    app.add_typer(webhook_app, name="webhook")


def _trackers(ctx: typer.Context, only: Optional[str] = None):
    from subscribers.trackers.config import load_trackers

    found = load_trackers(loki_dir(ctx))
    if only is not None:
        if only not in found:
            raise bad_input(f"tracker {only!r} is not configured (configured: {', '.join(found) or 'none'})")
        found = {only: found[only]}
    return found


@sync_app.command("status")
def status(ctx: typer.Context, json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show configured trackers, their outbox, give-ups and last errors (never credentials)."""
    trackers = _trackers(ctx)
    if not trackers:
        return _say(json, {"trackers": []}, "no trackers configured (add a `trackers:` section to .loki/config.yaml)")
    from projections.engine import catch_up
    from projections.trackers import TrackerProjection, outbox
    from subscribers.cursor import Cursor

    root = loki_dir(ctx)
    folded = catch_up(root, TrackerProjection())
    rows = []
    for name, config in trackers.items():
        pending = outbox(folded.state, name, include_given_up=True)
        rows.append({
            "tracker": name, "base_url": config.base_url,
            "credentials": all(config.secret(r, os.environ) for r in _roles(name)),
            "pending": sum(not op.gave_up for op in pending), "given_up": sum(op.gave_up for op in pending),
            "cursor": Cursor(root, f"tracker-{name}").seq, "head": folded.seq,
            "errors": [f"{op.ref} {op.kind}: {op.last_error}" for op in pending if op.last_error][-5:],
        })
    if json:
        return echo_json({"trackers": rows, "synced": len(folded.state.synced), "webhooks": folded.state.webhooks,
                          "remote": folded.state.remote})
    typer.echo(table([[r["tracker"], r["pending"], r["given_up"], f"{r['cursor']}/{r['head']}",
                       "yes" if r["credentials"] else "MISSING"] for r in rows],
                     ["tracker", "pending", "given up", "cursor/head", "credentials"]))
    for row in rows:
        for error in row["errors"]:
            typer.echo(f"{row['tracker']}: {error}")


def _roles(name: str) -> tuple[str, ...]:
    return ("email", "token") if name == "jira" else ("token",)


@sync_app.command("run")
def run(
    ctx: typer.Context,
    tracker: Optional[str] = typer.Option(None, "--tracker", "-t", help="Only this tracker."),
    json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Drain the outbox now: send every pending update and record the outcomes as events."""
    trackers = _trackers(ctx, tracker)
    if not trackers:
        return _say(json, {"reports": []}, "no trackers configured")
    from subscribers.trackers.sync import TrackerSync

    reports = [TrackerSync(loki_dir(ctx), config, os.environ).run_once() for config in trackers.values()]
    if json:
        return echo_json({"reports": reports})
    for r in reports:
        typer.echo(f"{r.tracker}: {r.synced} synced, {r.failed} failed ({r.gave_up} given up), {r.remaining} pending")
        for error in r.errors:
            typer.echo(f"  {error}")
    if any(r.failed for r in reports):
        raise typer.Exit(1)


@sync_app.command("retry")
def retry(
    ctx: typer.Context,
    tracker: Optional[str] = typer.Option(None, "--tracker", "-t", help="Only this tracker."),
    op: Optional[str] = typer.Option(None, "--op", help="Only this op id (see `sync status --json`)."),
    drain: bool = typer.Option(True, "--run/--no-run", help="Drain right after (default)."),
) -> None:
    """Give ops that were given up another chance (records tracker.retry_requested), then drain."""
    from eventlog import FileEventLog

    _trackers(ctx, tracker)
    payload = {"action": "retry_requested", **({"tracker": tracker} if tracker else {}), **({"op_id": op} if op else {})}
    with FileEventLog(loki_dir(ctx)) as log:
        receipt = log.append("tracker", "cli", payload)
    typer.echo(f"retry requested at seq {receipt.seq}")
    if drain:
        run(ctx, tracker=tracker, json=False)


@sync_app.command("link")
def link(
    ctx: typer.Context,
    task_id: str = typer.Argument(..., help="The task, e.g. task-001."),
    tracker: str = typer.Argument(..., help="jira, linear or github."),
    ref: str = typer.Argument(..., help="PROJ-12 | a Linear issue id or ENG-12 | owner/repo#42 | owner/repo@<sha>."),
) -> None:
    """Link a task to an external item (records tracker.linked)."""
    from eventlog import FileEventLog
    from projections.trackers import valid_target

    if not valid_target(tracker, ref):
        raise bad_input(f"{ref!r} is not a valid {tracker} reference (see --help)")
    with FileEventLog(loki_dir(ctx)) as log:
        receipt = log.append("tracker", "cli", {"action": "linked", "tracker": tracker, "task_id": task_id, "ref": ref},
                             stream=task_id)
    typer.echo(f"linked {task_id} -> {tracker} {ref} (seq {receipt.seq})")


@sync_app.command("import-epic")
def import_epic(
    ctx: typer.Context,
    key: str = typer.Argument(..., help="The Jira epic, e.g. PROJ-1."),
    out: Optional[Path] = typer.Option(None, "--out", help="Where to write the PRD (default .loki/prd/<KEY>.md)."),
) -> None:
    """Import a Jira epic and its children as a PRD-style Markdown document."""
    from eventlog import FileEventLog
    from eventlog.fsutil import atomic_write
    from projections.trackers import valid_target
    from subscribers.trackers.jira import JiraAdapter, epic_to_prd

    if not valid_target("jira", key):
        raise bad_input(f"{key!r} is not a Jira issue key")
    adapter = JiraAdapter(_trackers(ctx, "jira")["jira"], os.environ)
    try:
        epic, children = adapter.epic(key)
    finally:
        adapter.close()
    target = out or loki_dir(ctx) / "prd" / f"{key}.md"
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, epic_to_prd(epic, children).encode())
    with FileEventLog(loki_dir(ctx)) as log:
        log.append("tracker", "cli", {"action": "imported", "tracker": "jira", "ref": key,
                                      "children": [c.get("key") for c in children][:500], "path": str(target)})
    typer.echo(f"wrote {target} ({len(children)} child issues)")


@webhook_app.command("serve")
def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8787, "--port", help="Port (0 picks a free one)."),
    max_requests: Optional[int] = typer.Option(None, "--max-requests", help="Stop after this many deliveries."),
    duration: Optional[float] = typer.Option(None, "--duration", help="Stop after this many seconds."),
) -> None:
    """Accept POST /webhooks/{jira,linear,github}, verify signatures, store deliveries as events.

    Secrets come from JIRA_WEBHOOK_SECRET, LINEAR_WEBHOOK_SECRET and GITHUB_WEBHOOK_SECRET (or
    the variables named in .loki/config.yaml); a tracker without a secret accepts nothing.
    Stops on Ctrl-C or SIGTERM, or at --max-requests / --duration.
    """
    import signal

    from eventlog import FileEventLog
    from subscribers.trackers.config import DEFAULT_ENV
    from subscribers.trackers.webhooks import WebhookReceiver, WebhookServer

    configured = _trackers(ctx)
    secrets = {}
    for name, names in DEFAULT_ENV.items():
        env_name = configured[name].env_names["webhook_secret_env"] if name in configured else names["webhook_secret_env"]
        secrets[name] = os.environ.get(env_name) or None
    if not any(secrets.values()):
        raise bad_input("no webhook secret is set (GITHUB_WEBHOOK_SECRET, LINEAR_WEBHOOK_SECRET, JIRA_WEBHOOK_SECRET)")
    with FileEventLog(loki_dir(ctx)) as log:
        server = WebhookServer(WebhookReceiver(log, secrets), host, port)
        previous = signal.signal(signal.SIGTERM, lambda *_: server.stop())
        try:
            typer.echo(f"listening on http://{host}:{server.server_address[1]}/webhooks/"
                       f"{{{','.join(n for n, s in secrets.items() if s)}}}", err=True)
            handled = server.serve(max_requests, duration)
        except KeyboardInterrupt:
            handled = server.handled
        finally:
            signal.signal(signal.SIGTERM, previous)
            server.server_close()
    typer.echo(f"handled {handled} deliveries", err=True)


def _say(json: bool, value, text: str) -> None:
    if json:
        echo_json(value)
    else:
        typer.echo(text)
