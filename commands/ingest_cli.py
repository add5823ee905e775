"""`lokilog ingest [--watch]`: move the drop box and Loki Mode's legacy files into the log."""
from __future__ import annotations

import signal
import threading

import typer

from eventlog import LockTimeoutError

from .context import open_log
from .output import echo_json
from .progress import progress_bar

INGEST_HELP = """\
Move everything written outside the log into it, exactly once each:

  .loki/events/pending/*.json and .loki/events/archive/*.json (lokilog's drop box, and Loki
  Mode's bus.py / bus.ts / emit.sh files), and Loki Mode's flat .loki/events.jsonl and its
  rotation .loki/events.jsonl.1 (run.sh, emit.sh).

emit.sh writes each event twice (a file and a flat line): it is stored once. Loki Mode's files
are read in place, never moved, rewritten or deleted (its own subscribers expect them in
pending/); only lokilog's own drop-box files (*.lokilog.json) move to archive/ once stored
(LOKI_EVENTS_ARCHIVE_LEGACY_FILES=1 moves Loki Mode's too, the old behaviour). Also read:
run.sh's hook lines, bus.py's imported copies (stored once with their line), and the records
Loki Mode keeps outside its event bus (docs/LOKI_MODE.md).
A file or line that is not an event is reported with its path and reason, left in place, and
retried when it changes. Readers (tail, replay, projections) run the same ingest first.

--watch keeps ingesting as files appear until Ctrl-C (or SIGTERM).

Exit codes: 0 all ingested, 1 something was reported bad (it stays where it is).
"""


def register(app: typer.Typer) -> None:
    app.command(help=INGEST_HELP)(ingest)


def ingest(
    ctx: typer.Context,
    watch: bool = typer.Option(False, "--watch", "-w", help="Keep ingesting until Ctrl-C or SIGTERM."),
    interval: float = typer.Option(0.5, "--interval", min=0.01, help="Seconds between looks with --watch."),
    json: bool = typer.Option(False, "--json", help="Print each report as one JSON line."),
) -> None:
    log = open_log(ctx)
    stop = threading.Event()
    # Installed before the first pass, so a SIGTERM at any moment ends the watch cleanly.
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set()) if watch else None
    try:
        bar = progress_bar("ingest", "items", json=json)
        try:
            report = log.ingest_pending(progress=bar)
        finally:
            if bar is not None:
                bar.close()
        _show(report, json, quiet_if_idle=False)
        if watch:
            _watch(log, interval, json, stop)
        elif report.bad:
            raise typer.Exit(1)
    finally:
        if watch:
            signal.signal(signal.SIGTERM, previous)


def _watch(log, interval: float, json: bool, stop: threading.Event) -> None:
    try:
        while not stop.wait(interval):
            if not log.ingester().changed():
                continue
            try:
                _show(log.ingest_pending(), json, quiet_if_idle=True)
            except LockTimeoutError:
                continue  # a writer held the lock past its bound: look again next time
    except KeyboardInterrupt:
        pass


def _show(report, json: bool, quiet_if_idle: bool) -> None:
    if quiet_if_idle and not (report.ingested or report.twins or report.duplicates):
        return
    if json:
        echo_json({
            "ingested": report.ingested, "duplicates": report.duplicates, "twins": report.twins,
            "flat_lines": report.flat_lines, "files_read": report.files_read,
            "bad": [{"path": str(b.path), "reason": b.reason} for b in report.bad],
        })
        return
    typer.echo(f"ingested {report.ingested}, already stored {report.duplicates}, "
               f"second copies {report.twins}, bad {len(report.bad)}", err=False)
    for bad in report.bad:
        typer.echo(f"bad: {bad.path}: {bad.reason}")
