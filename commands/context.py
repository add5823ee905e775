"""What every command needs from the root options: the `.loki/` directory and its log."""
from __future__ import annotations

from pathlib import Path

import typer

from eventlog import FileEventLog, LokiPaths, resolve_loki_dir


def loki_dir(ctx: typer.Context) -> Path:
    """Return the `.loki/` directory chosen by --loki-dir, $LOKI_DIR or the default."""
    root = ctx.find_root()
    explicit = (root.obj or {}).get("loki_dir") if root.obj else None
    return resolve_loki_dir(explicit)


def loki_paths(ctx: typer.Context) -> LokiPaths:
    return LokiPaths(loki_dir(ctx))


def open_log(ctx: typer.Context) -> FileEventLog:
    """Open the event log of the chosen `.loki/` (closed when the command ends)."""
    log = FileEventLog(loki_dir(ctx))
    ctx.call_on_close(log.close)
    return log
