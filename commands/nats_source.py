"""`--from nats://HOST:PORT[/STREAM]` for `watch` and `replay`: a JetStream stream as the event source.

The NATS extra is imported only when `--from` is given; its absence is a bad-input error.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .errors import bad_option
from .output import event_line, to_json

FROM_HELP = ("Read a NATS JetStream stream instead of the local log: nats://HOST:PORT[/STREAM] "
             "(stream LOKI by default; needs the nats extra; see docs/NATS.md).")


def parse(ctx: typer.Context, source: str) -> tuple[str, str]:
    """Return (server URL, stream) for ``--from``, or a CLI error naming the option."""
    try:
        from subscribers.nats.follow import parse_source
        from subscribers.nats.identity import BridgeError
    except ImportError as exc:
        raise bad_option(ctx, "source", f"needs the nats extra (pip install 'lokilog[nats]'): {exc}")
    try:
        return parse_source(source)
    except BridgeError as exc:
        raise bad_option(ctx, "source", str(exc))


def follower(ctx: typer.Context, root: Path, source: str):
    """A StreamFollower mirroring the stream into ``root`` (a dedicated view directory)."""
    from subscribers.nats.follow import StreamFollower

    url, stream = parse(ctx, source)
    return StreamFollower(root, url, stream)


def mirror_once(follower) -> int:
    """Bring the mirror up to the stream's current end (for `watch --once`)."""
    import asyncio

    from subscribers.nats.pull import mirror

    return asyncio.run(mirror(follower.view_dir, follower.url, follower.stream))


def replay(ctx: typer.Context, source: str, selection, from_seq: int, to_seq: Optional[int],
           limit: Optional[int], json: bool) -> None:
    """Print the stream's events in stream order, filtered; seqs are stream seqs."""
    import asyncio

    url, stream = parse(ctx, source)
    asyncio.run(_replay(url, stream, selection, from_seq, to_seq, limit, json))


async def _replay(url, stream, selection, from_seq, to_seq, limit, json) -> None:
    from eventlog.codec import event_from_mapping
    from subscribers.nats.pull import ORIGIN_FIELD, events_from

    shown = 0
    async for stream_seq, body, origin in events_from(url, stream, from_seq):
        if to_seq is not None and stream_seq > to_seq:
            break
        event = event_from_mapping(body)
        if not selection.matches(event):
            continue
        if json:
            typer.echo(to_json({**event.to_dict(), ORIGIN_FIELD: origin}))
        else:
            where = f"{origin['host']}/{(origin['id'] or '')[:8]}#{origin['seq']}"
            typer.echo(f"{stream_seq:>8} {where}  {event_line(event)}")
        shown += 1
        if limit is not None and shown >= limit:
            break
