"""Core log commands: emit, tail, replay, verify, stats."""
from __future__ import annotations

import collections
import sys
import threading
from typing import List, Optional

import typer

from eventlog import EventFilter, InvalidEventError

from .context import loki_paths, open_log
from .output import echo_json, event_line, table, to_json
from .progress import progress_bar
from .payloads import build_payload, load_payload_text

FOLLOW_INTERVAL = 0.2


def register(app: typer.Typer) -> None:
    app.command(help=EMIT_HELP)(emit)
    app.command()(tail)
    app.command()(replay)
    app.command()(verify)
    app.command()(stats)


EMIT_HELP = """\
Append one event to the log and print its seq and id.

The payload is a JSON object (--payload '{...}', --payload - for stdin, --payload @file)
and/or key=value pairs (strings) and key:=json pairs (numbers, booleans, objects):

  lokilog emit task --source runner --payload '{"action":"complete","task_id":"t1"}'

  lokilog emit task -s runner -a complete task_id=t1 attempt:=2

--id makes the emit idempotent (running it twice stores one event). --stream with
--expected-version appends only if the stream still holds exactly that many events
(exit code 3 otherwise). If the log lock is busy past its bound the event is written
to the pending drop box instead and ingested later; the output says so.

Exit codes: 0 stored, 2 bad input (nothing written), 3 conflict, 1 other failure.
"""


def emit(
    ctx: typer.Context,
    type: str = typer.Argument(..., help="Event type: task, session, state, metric, error, ... or your own."),
    pairs: Optional[List[str]] = typer.Argument(None, help="key=value or key:=json payload fields.", show_default=False),
    source: str = typer.Option("cli", "--source", "-s", help="Who emits: runner, hook, cli, vscode, ..."),
    payload: Optional[str] = typer.Option(None, "--payload", "-p", help="JSON object, '-' for stdin, '@FILE'."),
    action: Optional[str] = typer.Option(None, "--action", "-a", help="Shorthand for payload.action."),
    id: Optional[str] = typer.Option(None, "--id", help="Event id; reusing it makes the emit idempotent."),
    stream: Optional[str] = typer.Option(None, "--stream", help="The entity the event belongs to, e.g. task-001."),
    expected_version: Optional[int] = typer.Option(
        None, "--expected-version", help="Append only if --stream holds exactly this many events."
    ),
    correlation_id: Optional[str] = typer.Option(None, "--correlation-id"),
    causation_id: Optional[str] = typer.Option(None, "--causation-id"),
    timestamp: Optional[str] = typer.Option(None, "--timestamp", help="RFC 3339; default now."),
    durability: Optional[str] = typer.Option(
        None, "--durability", help="always (fsync, default), batch or never; or $LOKI_EVENTS_DURABILITY."
    ),
    json: bool = typer.Option(False, "--json", help="Print the receipt as JSON."),
) -> None:
    body = build_payload(load_payload_text(payload), pairs or (), action)
    receipt = open_log(ctx).append(
        type, source, body, id=id, stream=stream, expected_version=expected_version,
        correlation_id=correlation_id, causation_id=causation_id, timestamp=timestamp,
        durability=durability,
    )
    if json:
        echo_json(receipt)
    elif receipt.status == "appended":
        typer.echo(f"seq {receipt.seq}  id {receipt.id}")
    elif receipt.status == "duplicate":
        typer.echo(f"seq {receipt.seq}  id {receipt.id}  (already stored; nothing written)")
    else:
        typer.echo(f"pending  id {receipt.id}  (log busy: queued in {receipt.pending_file})")


def tail(
    ctx: typer.Context,
    lines: int = typer.Option(10, "--lines", "-n", min=0, help="How many of the newest events to show."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new events until Ctrl-C."),
    types: Optional[List[str]] = typer.Option(None, "--type", "-t", help="Only these types (repeatable)."),
    json: bool = typer.Option(False, "--json", help="Print raw JSON lines."),
) -> None:
    """Show the newest events; -f follows the log live."""
    log = open_log(ctx)
    selection = EventFilter.build(types=types or ())
    head = log.head_seq
    start = 1 if selection.types else max(1, head - lines + 1)
    last = collections.deque(log.read(start, filter=selection), maxlen=lines) if lines else ()
    show = (lambda e: typer.echo(to_json(e.to_dict()))) if json else (lambda e: typer.echo(event_line(e)))
    for event in last:
        show(event)
    if follow:
        _follow(log, max(head, last[-1].seq if last else 0), selection, show)


def _follow(log, after: int, selection: EventFilter, show) -> None:
    stop = threading.Event()
    try:
        while not stop.wait(FOLLOW_INTERVAL):
            for event in log.read(after + 1):
                after = event.seq
                if selection.matches(event):
                    show(event)
    except KeyboardInterrupt:
        pass


def replay(
    ctx: typer.Context,
    types: Optional[List[str]] = typer.Option(None, "--type", "-t", help="Only these types (repeatable)."),
    sources: Optional[List[str]] = typer.Option(None, "--source", "-s", help="Only these sources (repeatable)."),
    streams: Optional[List[str]] = typer.Option(None, "--stream", help="Only these streams (repeatable)."),
    since: Optional[str] = typer.Option(None, "--since", help="Only events at or after this RFC 3339 time."),
    until: Optional[str] = typer.Option(None, "--until", help="Only events at or before this RFC 3339 time."),
    from_seq: int = typer.Option(1, "--from-seq", help="First seq to read."),
    to_seq: Optional[int] = typer.Option(None, "--to-seq", help="Last seq to read."),
    where: Optional[List[str]] = typer.Option(
        None, "--where", "-w", help="FIELD=VALUE or FIELD!=VALUE, e.g. payload.task_id=t1 (repeatable)."
    ),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Stop after this many events."),
    json: bool = typer.Option(False, "--json", help="Print raw JSON lines (one event per line)."),
) -> None:
    """Print stored events in seq order, filtered; streams any log size in constant memory.

    Example: what did the runner see before task 42 failed?

      lokilog replay --stream task-42 --until 2026-02-21T10:00:00Z
    """
    if from_seq < 1:
        raise InvalidEventError(f"--from-seq must be >= 1, got {from_seq}")
    if to_seq is not None and to_seq < from_seq:
        raise InvalidEventError(f"--to-seq {to_seq} is before --from-seq {from_seq}")
    selection = EventFilter.build(types or (), sources or (), streams or (), since, until, where or ())
    log = open_log(ctx)
    # A bar only when the events go to a file or a pipe and a person watches the terminal.
    bar = None if sys.stdout.isatty() else progress_bar("replay")
    total = (to_seq or log.head_seq) - from_seq + 1
    shown = 0
    try:
        for event in log.read(from_seq, to_seq, filter=selection):
            typer.echo(to_json(event.to_dict()) if json else event_line(event))
            shown += 1
            if bar is not None:
                bar(event.seq - from_seq + 1, total)
            if limit is not None and shown >= limit:
                break
    finally:
        if bar is not None:
            bar.close()


def verify(
    ctx: typer.Context,
    fix: bool = typer.Option(False, "--fix", help="Quarantine torn tails and re-index after a reported loss."),
    json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Check the log: dense seqs, every line parses, no torn tail, nothing seen was lost.

    Exits 1 and names each problem's segment, byte offset and seq when something is wrong.
    With --fix, torn bytes at the end are moved to .loki/events/quarantine/ and a reported loss
    of the log's end is accepted (the index is rebuilt); sealed segments are never rewritten.
    """
    from eventlog.verify import verify_log

    from .progress import progress_bar

    paths = loki_paths(ctx)
    bar = progress_bar("verify", "bytes", json=json)
    try:
        report = verify_log(paths, bar)
    finally:
        if bar is not None:
            bar.close()
    repairs: list[str] = []
    if fix and not report.ok:
        repairs = _repair(open_log(ctx), report)
        report = verify_log(paths)
    if json:
        echo_json({**report.to_dict(), "repairs": repairs})
    else:
        for line in repairs:
            typer.echo(f"fixed: {line}")
        for finding in report.findings:
            typer.echo(finding.describe())
        status = "ok" if report.ok else f"{len(report.findings)} problem(s)"
        typer.echo(f"{status}: {report.events} events, {report.segments} segment(s), head seq {report.head_seq}")
    if not report.ok:
        raise typer.Exit(1)


def _repair(log, report) -> list[str]:
    kinds = {f.kind for f in report.findings}
    done = []
    if "torn_tail" in kinds or "bad_line" in kinds:
        done += [f"quarantined {c.length} bytes of {c.segment.name} at offset {c.offset} ({c.reason})"
                 f" -> {c.saved_as}" for c in log.recover()]
    if "log_shorter_than_seen" in kinds:
        head = log.accept_truncation()
        done.append(f"accepted the loss of the log's end; re-indexed up to seq {head}")
    return done


def stats(
    ctx: typer.Context,
    json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
) -> None:
    """Count events, segments and bytes, per type and source, with first and last timestamps."""
    from eventlog.stats import log_stats

    log = open_log(ctx)
    figures = log_stats(log.paths, log.read_raw())
    if json:
        echo_json(figures.to_dict())
        return
    typer.echo(f"events {figures.events}  segments {figures.segments}  bytes {figures.bytes}"
               f"  pending files {figures.pending_files}")
    typer.echo(f"seq {figures.first_seq}..{figures.last_seq}  from {figures.first_timestamp}"
               f"  to {figures.last_timestamp}")
    for title, counts in (("type", figures.by_type), ("source", figures.by_source)):
        typer.echo("")
        typer.echo(table([[k, v] for k, v in counts.items()], [title, "events"]))

