"""`lokilog bridge`: replicate the log into NATS JetStream, or read a stream back."""
from __future__ import annotations

from typing import Optional

import typer

from .context import loki_dir
from .errors import bad_input, bad_option, option_label
from .output import echo_json

BRIDGE_HELP = """Replicate this .loki/ log into a NATS JetStream stream, exactly once (see docs/NATS.md).

Events go to subject loki.<project>.<stream> ('_' without a stream) with the event id as
Nats-Msg-Id; a durable cursor in .loki/events/cursors/ moves only past acknowledged events.
Needs the nats extra: pip install 'lokilog[nats]'.

With --replay: print the stream's events in stream order, each with its origin.
With --pull: mirror the stream into --loki-dir (a dedicated view directory) and run the
projections over it, so `lokilog --loki-dir VIEW status` shows every machine's run.

Examples:  lokilog bridge nats://127.0.0.1:4222
           lokilog bridge nats://127.0.0.1:4222 --once
           lokilog --loki-dir /srv/view bridge nats://127.0.0.1:4222 --pull
           lokilog bridge nats://127.0.0.1:4222 --replay --json
"""


def register(app: typer.Typer) -> None:
    app.command(help=BRIDGE_HELP)(bridge)


def bridge(
    ctx: typer.Context,
    url: str = typer.Argument(..., help="nats://HOST:PORT"),
    stream: str = typer.Option("LOKI", "--stream", help="The JetStream stream."),
    once: bool = typer.Option(False, "--once", help="One pass up to the log's head, then exit (1 if unreachable)."),
    project: Optional[str] = typer.Option(None, "--project", help="Project token of the subject (default: the name of the directory holding .loki/)."),
    pull: bool = typer.Option(False, "--pull", help="Mirror the stream into --loki-dir and fold the projections."),
    replay: bool = typer.Option(False, "--replay", help="Print the stream's events with their origins."),
    json: bool = typer.Option(False, "--json", help="JSON output (one object per line with --replay)."),
) -> None:
    try:
        import asyncio

        from subscribers.nats.identity import BridgeError
        from subscribers.nats.jetstream import check_url
    except ImportError as exc:
        raise bad_input(f"the NATS bridge needs the nats extra (pip install 'lokilog[nats]'): {exc}")
    if pull and replay:
        raise bad_option(ctx, "pull", f"cannot be given with {option_label(ctx, 'replay')}")
    try:
        check_url(url)
    except BridgeError as exc:
        raise bad_input(str(exc))
    root = loki_dir(ctx)
    if replay:
        asyncio.run(_replay(url, stream, json))
    elif pull:
        _pull(root, url, stream, json)
    else:
        _push(root, url, stream, project, once, json)


async def _replay(url: str, stream: str, json: bool) -> None:
    from subscribers.nats.pull import events_from

    async for stream_seq, event, origin in events_from(url, stream):
        if json:
            echo_json({"stream_seq": stream_seq, "origin": origin, "event": event})
        else:
            typer.echo(f"{stream_seq:>8}  {origin['host']}/{(origin['id'] or '')[:8]}#{origin['seq']}  "
                       f"{event['timestamp']}  {event['type']:<10} {event.get('stream') or '-'}  {event['id']}")


def _pull(root, url: str, stream: str, json: bool) -> None:
    import asyncio

    from projections.engine import catch_up
    from projections.registry import all_projections
    from subscribers.nats.pull import mirror

    added = asyncio.run(mirror(root, url, stream))
    seqs = {p.name: catch_up(root, p).seq for p in all_projections()}
    if json:
        echo_json({"mirrored": added, "projections": seqs})
    else:
        typer.echo(f"mirrored {added} event(s) into {root}; " + " ".join(f"{k}={v}" for k, v in seqs.items()))


def _push(root, url: str, stream: str, project, once: bool, json: bool) -> None:
    import asyncio
    import signal

    from subscribers.nats.push import Bridge, run
    from subscribers.nats.wake import stop_watching, watch_log

    bridge_ = Bridge(root, url, stream=stream, project=project)

    async def main() -> int:
        stop, wake = asyncio.Event(), asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        observer = None if once else watch_log(root, wake, loop)
        try:
            return await run(bridge_, once=once, stop=stop, wake=wake, say=lambda m: typer.echo(m, err=True))
        finally:
            stop_watching(observer)

    asyncio.run(main())
    cursor = bridge_.load_cursor()
    if json:
        echo_json({"cursor_seq": cursor.seq, "stream_seq": cursor.stream_seq,
                   "published": bridge_.published, "skipped": bridge_.skipped})
    else:
        typer.echo(f"bridged to seq {cursor.seq} (published {bridge_.published}, already in stream {bridge_.skipped})")
