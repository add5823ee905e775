"""Rendering for the CLI: JSON for scripts, compact aligned text for people. No I/O beyond echo."""
from __future__ import annotations

import sys
from typing import Any

import msgspec

from eventlog import Event

_json = msgspec.json.Encoder()


def to_json(value: Any) -> str:
    """Encode any result (dataclasses, Structs, paths) as one line of JSON."""
    return _json.encode(msgspec.to_builtins(value, enc_hook=str)).decode()


def echo_json(value: Any) -> None:
    import typer  # here, so that `lokilog emit --json` renders without loading typer

    typer.echo(to_json(value))


def event_line(event: Event, width: int = 0) -> str:
    """One human-readable line: seq, time, type/action, source, stream and a payload preview."""
    label = event.type if event.action is None else f"{event.type}.{event.action}"
    stream = f" [{event.stream}]" if event.stream else ""
    payload = {k: v for k, v in event.payload.items() if k != "action"}
    preview = _json.encode(payload).decode() if payload else ""
    width = width or _terminal_width()
    head = f"{event.seq:>7}  {event.timestamp}  {label:<22} {event.source:<10}{stream} "
    room = max(width - len(head), 20)
    if len(preview) > room:
        preview = preview[: room - 1] + "…"
    return head + preview


def _terminal_width() -> int:
    if not sys.stdout.isatty():
        return 200
    import shutil

    return shutil.get_terminal_size((120, 24)).columns


def table(rows: list[list[Any]], headers: list[str]) -> str:
    """Format rows as a plain aligned table (no colour, so it pipes cleanly)."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    return "\n".join(lines)
