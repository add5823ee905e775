"""The bodies of `lokilog tail`, `verify` and `status` as commands/fast_cli.py runs them, without typer.

They make the same library calls and print the same lines as commands/log_cli.py and
commands/projection_cli.py.
"""
from __future__ import annotations

import collections
from pathlib import Path


def tail(root: Path, lines: int, follow: bool, types: list[str] | None, as_json: bool) -> int:
    """Print the newest ``lines`` events (of ``types``); with ``follow``, new ones until Ctrl-C."""
    from eventlog import EventFilter, FileEventLog

    from .output import event_line, to_json

    with FileEventLog(root) as log:
        selection = EventFilter.build(types=types or ())
        head = log.head_seq
        start = 1 if selection.types else max(1, head - lines + 1)
        last = collections.deque(log.read(start, filter=selection), maxlen=lines) if lines else ()
        # Flushed line by line, as typer.echo does: a pipe reading `tail -f` sees each event at once.
        show = (lambda e: print(to_json(e.to_dict()), flush=True)) if as_json else (
            lambda e: print(event_line(e), flush=True))
        for event in last:
            show(event)
        if follow:
            follow_log(log, max(head, last[-1].seq if last else 0), selection, show)
    return 0


def follow_log(log, after: int, selection, show, interval: float = 0.2) -> None:
    """Show each new event after seq ``after`` that ``selection`` matches, until Ctrl-C."""
    import threading

    stop = threading.Event()
    try:
        while not stop.wait(interval):
            for event in log.read(after + 1):
                after = event.seq
                if selection.matches(event):
                    show(event)
    except KeyboardInterrupt:
        pass


def verify(root: Path, as_json: bool) -> int:
    """Check the log and print the report; 1 when something is wrong."""
    from eventlog import LokiPaths
    from eventlog.verify import verify_log

    from .output import to_json
    from .progress import progress_bar

    bar = progress_bar("verify", "bytes", json=as_json)
    try:
        report = verify_log(LokiPaths(root), bar)
    finally:
        if bar is not None:
            bar.close()
    if as_json:
        print(to_json({**report.to_dict(), "repairs": []}))
    else:
        for finding in report.findings:
            print(finding.describe())
        status = "ok" if report.ok else f"{len(report.findings)} problem(s)"
        print(f"{status}: {report.events} events, {report.segments} segment(s), head seq {report.head_seq}")
    return 0 if report.ok else 1


def status(root: Path, as_json: bool) -> int:
    """Catch the run-state projection up and print its summary."""
    from projections.run_state import RunStateProjection, summary

    from .output import to_json
    from .status_render import notices, refreshed_or_read_only, render_status

    result = refreshed_or_read_only(root, RunStateProjection())
    notices([result])
    view = summary(result.state)
    print(to_json(view) if as_json else render_status(view))
    return 0
