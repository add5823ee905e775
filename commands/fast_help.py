"""The top-level `lokilog --help`, printed without building the typer app (commands/fast_cli.py).

A copy of what the typer app prints on a terminal at least 80 columns wide (click wraps help at
78 columns there); tests/test_cli_fast.py checks it against the app, word for word, and that
every registered command is listed. On a narrower terminal, or run under another name
(`python -m commands`, whose usage line click names after the interpreter), the typer app prints its own.
"""
from __future__ import annotations

import os
import sys

from .terminal_width import terminal_columns

HEAD = """\
Usage: lokilog [OPTIONS] COMMAND [ARGS]...

  lokilog: one durable, append-only event log per project (`.loki/events/`),
  and the state rebuilt from it.

  Every command works on the `.loki/` directory named by --loki-dir, else
  $LOKI_DIR, else ./.loki.  Add --json to any command that prints results to
  get machine-readable output.

  Examples:

    lokilog emit task --source runner --payload
    '{"action":"complete","task_id":"t1"}'

    lokilog tail -n 20            lokilog tail -f

    lokilog replay --type task --where payload.task_id=t1 --json

    lokilog verify                lokilog stats

Options:
  --loki-dir <path>  The .loki directory (default ./.loki).  [env var:
                     LOKI_DIR]
  --debug            Print the traceback of a failure (or set LOKI_DEBUG=1).
  --version          Print the version and exit.
  -h, --help         Show this message and exit.

Commands:
"""

#: Every top-level command in the order the typer app lists them, with its short help as listed there.
COMMANDS = (
    ('emit', 'Append one event to the log and print its seq and id.'),
    ('tail', 'Show the newest events; -f follows the log live.'),
    ('replay', 'Print stored events in seq order, filtered; streams any log...'),
    ('verify', 'Check the log: dense seqs, every line parses, no torn tail,...'),
    ('stats', 'Count events, segments and bytes, per type and source, with...'),
    ('ingest', 'Move everything written outside the log into it, exactly...'),
    ('doctor', 'Report what is in a .loki/: legacy files waiting, bad files...'),
    ('demo', 'Emit a small simulated run (sessions, tasks, tokens, gates,...'),
    ('rebuild', 'Rebuild projections from seq 1 and swap in their snapshots...'),
    ('state', "Print a projection's state now, or as of a seq or time; or..."),
    ('status', 'Show the run: session and RARV phase, active agents, tasks...'),
    ('watch', 'Keep every projection and enabled subscriber current as...'),
    ('rollback', 'Roll back to a checkpoint (an id, or `latest`: the newest...'),
    ('approve', 'Grant a pending approval (records approval.granted).'),
    ('deny', 'Deny a pending approval (records approval.denied).'),
    ('approvals', 'List pending approvals; approvals past their timeout are...'),
    ('serve', 'Serve the HTTP API and the live dashboard over this .loki/...'),
    ('bridge', 'Replicate this .loki/ log into a NATS JetStream stream,...'),
    ('checkpoint', 'Checkpoints: a named log position plus copies of the state...'),
    ('audit', 'The audit trail: a hash-chained projection of the log in...'),
    ('cost', "Token usage and spend from the log's `metric.token_usage`..."),
    ('metrics', 'Prometheus metrics folded from the log: task durations,...'),
    ('policy', 'Governance as code: check actions against...'),
    ('sync', 'Sync tasks to Jira, Linear and GitHub (off unless...'),
    ('webhook', 'Receive Jira, Linear and GitHub webhooks as events.'),
    ('crash', 'Local crash reports: scrubbed, whitelist-only summaries of...'),
    ('telemetry', 'One switch for all telemetry (crash capture and any...'),
    ('token', 'Bearer tokens for `lokilog serve`, stored hashed in...'),
    ('otel', 'OpenTelemetry export: the run as one trace per session...'),
    ('learn', 'Learn from outcomes: every run is classified (success,...'),
    ('gates', 'Governance gates: nine gates (security, quality,...'),
)


def top_level_help() -> str | None:
    """The help text, or None where the typer app would print it otherwise."""
    if terminal_columns() < 80 or os.path.basename(sys.argv[0]) != "lokilog":
        return None
    width = max(len(name) for name, _ in COMMANDS)
    return HEAD + "".join(f"  {name:<{width}}  {summary}\n" for name, summary in COMMANDS)
