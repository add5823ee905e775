"""Core log commands: emit, tail, replay, verify, stats."""
from __future__ import annotations

import collections
import sys
from typing import List, Optional

import typer

from eventlog import EventFilter

from .context import loki_dir, loki_paths, open_log
from .output import echo_json, event_line, table, to_json
from .errors import bad_option
from .progress import progress_bar

FOLLOW_INTERVAL = 0.2


def register(app: typer.Typer) -> None:
    from .emit_cli import SHORT_HELP

    app.command(help=SHORT_HELP, add_help_option=False, context_settings=_PASS_THROUGH)(emit)
    app.command()(tail)
    app.command()(replay)
    app.command()(verify)
    app.command()(stats)


#: `emit` takes its arguments as they are and hands them to its own parser (commands/emit_cli.py).
_PASS_THROUGH = {"ignore_unknown_options": True, "allow_extra_args": True, "allow_interspersed_args": False}


def emit(ctx: typer.Context) -> None:
    from .emit_cli import run

    raise typer.Exit(run(ctx.args, loki_dir(ctx)))


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
    from .fast_commands import follow_log

    follow_log(log, after, selection, show, FOLLOW_INTERVAL)


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
    allow_gaps: bool = typer.Option(False, "--allow-gaps", help="Read past missing seqs instead of failing."),
    source: Optional[str] = typer.Option(
        None, "--from", help="Replay a NATS JetStream stream (nats://HOST:PORT[/STREAM]) in stream order, each "
                             "event with its loki_origin; --from-seq/--to-seq are then stream seqs."),
) -> None:
    """Print stored events in seq order, filtered; streams any log size in constant memory.

    A missing seq (a lost segment or lines) is an error (exit 1) unless --allow-gaps is given,
    and so is a line whose bytes do not match its crc.

    Example: what did the runner see before task 42 failed?

      lokilog replay --stream task-42 --until 2026-02-21T10:00:00Z
    """
    if from_seq < 1:
        raise bad_option(ctx, "from_seq", f"must be >= 1, got {from_seq}")
    if to_seq is not None and to_seq < from_seq:
        raise bad_option(ctx, "to_seq", f"{to_seq} is before the first seq asked for ({from_seq})")
    selection = EventFilter.build(types or (), sources or (), streams or (), since, until, where or ())
    if source is not None:
        from .nats_source import replay as replay_stream

        return replay_stream(ctx, source, selection, from_seq, to_seq, limit, json)
    from eventlog.reader import dense

    log = open_log(ctx)
    # A bar only when the events go to a file or a pipe and a person watches the terminal.
    bar = None if sys.stdout.isatty() else progress_bar("replay")
    total = (to_seq or log.head_seq) - from_seq + 1
    events = log.read(from_seq, to_seq, checksums=True)
    if not allow_gaps:
        events = dense(events, from_seq, log.paths.log_dir)
    shown = 0
    try:
        for event in events:
            if bar is not None:
                bar(event.seq - from_seq + 1, total)
            if not selection.matches(event):
                continue
            typer.echo(to_json(event.to_dict()) if json else event_line(event))
            shown += 1
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
    if "index_unreadable" in kinds:
        log.rebuild_index()
        done.append("rebuilt the index from the log")
    if "torn_tail" in kinds or "bad_line" in kinds or "unfinished_append" in kinds:
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
    if figures.last_seq is None:
        typer.echo(f"no log here: {log.paths.log_dir} holds no events yet")
        return
    typer.echo(f"seq {figures.first_seq}..{figures.last_seq}  from {figures.first_timestamp}"
               f"  to {figures.last_timestamp}")
    for title, counts in (("type", figures.by_type), ("source", figures.by_source)):
        typer.echo("")
        typer.echo(table([[k, v] for k, v in counts.items()], [title, "events"]))

