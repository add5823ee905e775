"""`lokilog rebuild`, `state`, `status` and `watch`: projections from the command line."""
from __future__ import annotations

from typing import List, Optional, Tuple

import typer

from .context import loki_dir
from .errors import bad_input, bad_option, option_label
from .output import echo_json
from .status_render import notices as _notices, refreshed_or_read_only as _refreshed_or_read_only, render_status


def register(app: typer.Typer) -> None:
    app.command()(rebuild)
    app.command()(state)
    app.command()(status)
    app.command()(watch)
    from .demo_cli import add_section

    add_section("Run state (lokilog status)", _demo_status)
    from .doctor_cli import add_check

    add_check("projections", _doctor_projections)


def _doctor_projections(paths):
    """Each projection's position and lag, its dead letters, and whether it stopped or ran ahead."""
    from projections.engine import health

    from .doctor_cli import OK, PROBLEM, WARN, Section

    rows = health(paths.root) if paths.log_dir.is_dir() else []
    section = Section(OK, [], {"projections": rows})
    for row in rows:
        line = f"{row['name']}: at seq {max(row['snapshot_seq'], row['views_seq'])} of {row['head_seq']}"
        if row["dead_letter_count"]:
            line += f", {row['dead_letter_count']} dead letter(s), last: {row['dead_letters'][-1]}"
            section.status = WARN if section.status == OK else section.status
        if row["stopped"]:
            line += f", STOPPED at {row['stopped']}"
            section.status = PROBLEM
        if row["ahead_of_log"]:
            line += ", AHEAD OF THE LOG (it is rebuilt at its next run)"
            section.status = PROBLEM
        section.lines.append(line)
    return section


def rebuild(
    ctx: typer.Context,
    names: Optional[List[str]] = typer.Argument(None, help="Projections to rebuild (default: all)."),
    json: bool = typer.Option(False, "--json", help="Print one JSON object; no progress bar."),
) -> None:
    """Rebuild projections from seq 1 and swap in their snapshots and views atomically.

    Views are byte-identical however often you rebuild. A progress bar (events/s, ETA) shows
    on a terminal.

    Examples:  lokilog rebuild          lokilog rebuild run-state --json
    """
    from .fast_commands import rebuild as run_rebuild

    run_rebuild(loki_dir(ctx), names or [], json)


def state(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The projection, e.g. run-state."),
    at_seq: Optional[int] = typer.Option(None, "--at-seq", help="State as of this seq (inclusive)."),
    at: Optional[str] = typer.Option(None, "--at", help="State as of this time (RFC 3339, inclusive)."),
    diff: Optional[Tuple[str, str]] = typer.Option(
        None, "--diff", help="Two points A B (seqs or timestamps): show what changed between them.",
        show_default=False,
    ),
) -> None:
    """Print a projection's state now, or as of a seq or time; or what changed between two points.

    The debugging tool for "what did the system believe before this failed?". Output is JSON.

    Examples:  lokilog state run-state --at-seq 120
               lokilog state run-state --at 2026-02-21T10:05:00Z
               lokilog state run-state --diff 100 140
    """
    import msgspec

    from projections.diff import diff_states
    from projections.engine import state_at

    from eventlog import FileEventLog

    from .fast_commands import select_projections

    (projection,) = select_projections([name])
    root = loki_dir(ctx)
    with FileEventLog(root) as log:
        head = log.head_seq
    if diff:
        if at_seq is not None or at is not None:
            raise bad_input(f"{option_label(ctx, 'diff')} cannot be combined with {option_label(ctx, 'at')} "
                            f"or {option_label(ctx, 'at_seq')}")
        for point in diff:
            _check_seq(ctx, "diff", _point(point).get("seq"), head)
        before, after = (state_at(root, projection, **_point(p)) for p in diff)
        if before.seq > after.seq:
            raise bad_option(ctx, "diff", f"{diff[0]} {diff[1]}: the first point comes after the second "
                                          f"(seq {before.seq} > {after.seq}); swap them")
        echo_json({"name": name, "from_seq": before.seq, "to_seq": after.seq,
                   "changes": diff_states(before.state, after.state)})
        return
    if at_seq is not None and at is not None:
        raise bad_input(f"give {option_label(ctx, 'at_seq')} or {option_label(ctx, 'at')}, not both")
    _check_seq(ctx, "at_seq", at_seq, head)
    result = state_at(root, projection, seq=at_seq, timestamp=at)
    _notices([result])
    echo_json({"name": name, "seq": result.seq, "state": msgspec.to_builtins(result.state)})


def _check_seq(ctx: typer.Context, option: str, seq: Optional[int], head: int) -> None:
    """A seq past the log's head is a question about events that do not exist: say so, never clamp."""
    if seq is None:
        return
    if seq < 0:
        raise bad_option(ctx, option, f"seq must be >= 0, got {seq}")
    if seq > head:
        raise bad_option(ctx, option, f"seq {seq} is past the end of the log (head seq {head})")


def _point(text: str) -> dict:
    return {"seq": int(text)} if text.isdigit() else {"timestamp": text}


def status(
    ctx: typer.Context,
    json: bool = typer.Option(False, "--json", help="Print the run state as JSON."),
) -> None:
    """Show the run: session and RARV phase, active agents, tasks by status, quality gates.

    Catches the run-state projection up first (and writes `.loki/state/run/summary.json`).
    """
    from projections.run_state import RunStateProjection, summary

    result = _refreshed_or_read_only(loki_dir(ctx), RunStateProjection())
    _notices([result])
    view = summary(result.state)
    if json:
        echo_json(view)
        return
    typer.echo(render_status(view))


def _demo_status(root) -> str:
    from projections.engine import catch_up
    from projections.run_state import RunStateProjection, summary

    result = catch_up(root, RunStateProjection())
    return render_status(summary(result.state)) + f"\n\n(views written to {root}/state/run/summary.json and tasks.json)"


def watch(
    ctx: typer.Context,
    once: bool = typer.Option(False, "--once", help="Run one cycle (ingest, catch up, drain) and exit."),
    poll_interval: float = typer.Option(2.0, "--poll-interval", help="Seconds between safety polls."),
    no_notify: bool = typer.Option(False, "--no-notify", help="Poll only (every 0.5s), no file notifications."),
    json: bool = typer.Option(False, "--json", help="With --once: print the cycle's report as JSON."),
    source: Optional[str] = typer.Option(
        None, "--from", help="Follow a NATS JetStream stream (nats://HOST:PORT[/STREAM]) into this .loki/, "
                             "a dedicated view of every bridged machine, and fold it (needs the nats extra)."),
) -> None:
    """Keep every projection and enabled subscriber current as events arrive.

    Woken by file notifications on the log and the drop box, with a polling fallback; ingests
    the drop box as it fills. One instance per .loki/ (a second start says who runs it).
    SIGINT/SIGTERM stop it cleanly; after kill -9 a restart resumes with nothing lost or doubled.

    With --from, the events come from a JetStream stream in stream order, each keeping its
    origin (docs/NATS.md); the view's own log is the durable position, so a restart resumes
    without folding anything twice.

    Examples:  lokilog watch          lokilog watch --once --json
               lokilog --loki-dir /srv/view watch --from nats://10.0.0.5:4222
    """
    import logging
    import os
    import signal

    from projections.registry import all_projections
    from subscribers.instance import InstanceLock
    from subscribers.registry import enabled_subscribers
    from subscribers.watch import Watcher

    if poll_interval <= 0:
        raise bad_option(ctx, "poll_interval", "must be > 0")
    logging.basicConfig(format="lokilog: %(levelname)s: %(message)s", level=logging.WARNING)
    root = loki_dir(ctx)
    with InstanceLock(root):
        follower = None
        if source is not None:
            from . import nats_source

            follower = nats_source.follower(ctx, root, source)
        subs = enabled_subscribers(root, os.environ)
        if once:
            _watch_once(root, subs, follower, json)
            return
        watcher = Watcher(root, all_projections(), subs, poll_interval=poll_interval, notifications=not no_notify)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: watcher.stop())
        typer.echo(f"lokilog watch: {root} (pid {os.getpid()}); projections: "
                   f"{', '.join(r.projection.name for r in watcher.runners) or 'none'}; subscribers: "
                   f"{', '.join(s.name for s in subs) or 'none'}", err=True)
        following = _follow(follower, watcher) if follower is not None else None
        try:
            watcher.run()
        finally:
            if following is not None:
                following.stop()
        typer.echo("lokilog watch: stopped", err=True)


def _watch_once(root, subs, follower, as_json: bool) -> None:
    """One watch cycle (mirror, ingest, catch up, drain) and its report; exit 1 on errors."""
    from projections.registry import all_projections
    from subscribers.watch import run_once

    if follower is not None:
        from . import nats_source

        mirrored = nats_source.mirror_once(follower)
    else:
        mirrored = None
    report = run_once(root, all_projections(), subs)
    out = {"ingested": report.ingested, "projections": {p.name: p.seq for p in report.projections},
           "delivered": report.delivered, "errors": report.errors, "notices": report.notices}
    if mirrored is not None:
        out["mirrored"] = mirrored
    if as_json:
        echo_json(out)
    else:
        typer.echo(" ".join(f"{k}={v}" for k, v in out["projections"].items()) or "no projections")
    if report.errors:
        raise typer.Exit(1)


def _follow(follower, watcher):
    """Start mirroring the stream beside the watcher; each appended batch wakes a cycle."""
    from subscribers.nats.follow import FollowerThread

    follower.on_append = lambda _count: watcher.wake.set()
    typer.echo(f"lokilog watch: following {follower.url}/{follower.stream} from stream seq "
               f"{_position(follower) + 1}", err=True)
    return FollowerThread(follower).start()


def _position(follower) -> int:
    from subscribers.nats.pull import mirrored_position

    return mirrored_position(follower.log)
