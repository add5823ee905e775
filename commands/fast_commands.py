"""The bodies of `lokilog tail`, `verify`, `status` and `rebuild` as commands/fast_cli.py runs them, without typer.

They make the same library calls and print the same lines as commands/log_cli.py and
commands/projection_cli.py (whose `rebuild` runs the one here).
"""
from __future__ import annotations

import collections
import time
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


def rebuild(root: Path, names: list[str], as_json: bool) -> int:
    """Rebuild projections (all, or those named) from seq 1 and print where each one got to."""
    from projections.parallel import rebuild_in_two

    from .output import to_json
    from .progress import progress_bar

    chosen = select_projections(names)
    bar = progress_bar("rebuild", json=as_json)
    started = time.monotonic()
    try:
        results = rebuild_in_two(root, chosen, progress=None if bar is None else (
            lambda name, done, total: bar(done, total, f"rebuild {name}")), states=False)
    finally:
        if bar is not None:
            bar.close()
    elapsed = time.monotonic() - started
    rows = [{"name": r.name, "seq": r.seq, "dead_letters": r.dead_letters,
             "stopped": r.stopped.seq if r.stopped else None} for r in results]
    if as_json:
        print(to_json({"rebuilt": rows, "seconds": round(elapsed, 3)}), flush=True)
        return 0
    for row in rows:
        extra = f", {row['dead_letters']} dead letter(s)" if row["dead_letters"] else ""
        stop = f", STOPPED at seq {row['stopped']}" if row["stopped"] else ""
        print(f"rebuilt {row['name']} to seq {row['seq']}{extra}{stop}", flush=True)
    print(f"({elapsed:.2f}s)", flush=True)
    return 0


def select_projections(names: list[str]) -> list:
    """The projections named (all when none is); an unknown name is a bad command-line value."""
    from projections.registry import all_projections

    from .errors import bad_input

    known = {p.name: p for p in all_projections()}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise bad_input(f"unknown projection(s) {', '.join(unknown)}; known: {', '.join(sorted(known)) or 'none'}")
    return [known[n] for n in names] if names else list(known.values())
