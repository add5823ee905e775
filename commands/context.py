"""What every command needs from the root options: the `.loki/` directory and its log."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from eventlog import resolve_loki_dir
from eventlog.errors import LokiDirError

if TYPE_CHECKING:  # annotations only: `lokilog emit` checks its directory here without loading typer
    import typer

    from eventlog import FileEventLog, LokiPaths


def loki_dir(ctx: typer.Context) -> Path:
    """Return the `.loki/` directory chosen by --loki-dir, $LOKI_DIR or the default, if it can be one.

    A `.loki/` is created only inside a directory that exists: a mistyped path fails here
    instead of growing a tree of directories.
    """
    root = ctx.find_root()
    explicit = (root.obj or {}).get("loki_dir") if root.obj else None
    chosen = resolve_loki_dir(explicit)
    check_loki_dir(chosen, _where_chosen(root, explicit))
    return chosen


def check_loki_dir(path: Path, named_by: str = "") -> None:
    """Raise LokiDirError unless ``path`` is a directory, or could be created as one in its parent."""
    if path.is_dir():
        return  # the common case, and then no parent can be a file either
    from .errors import first_non_directory

    blocker = first_non_directory(path)
    if blocker == path:
        raise LokiDirError(f"{path} is not a directory{named_by}")
    if blocker is not None:
        raise LokiDirError(f"{blocker} is not a directory, so {path} cannot be one{named_by}")
    if not path.exists() and not path.parent.is_dir():
        raise LokiDirError(f"{path.parent} does not exist: not creating {path} there{named_by}")


def _where_chosen(root: typer.Context, explicit: object) -> str:
    """Which switch named the directory, as the parser knows it: the option or its variable."""
    from .errors import option_label

    if explicit is None:
        return ""
    source = root.get_parameter_source("loki_dir")
    if source is not None and source.name == "ENVIRONMENT":
        param = next(p for p in root.command.params if p.name == "loki_dir")
        return f" (given by ${param.envvar})"
    return f" (given by {option_label(root, 'loki_dir')})"


def loki_paths(ctx: typer.Context) -> LokiPaths:
    from eventlog import LokiPaths  # here: `lokilog verify` checks its directory without loading the store

    return LokiPaths(loki_dir(ctx))


def open_log(ctx: typer.Context) -> FileEventLog:
    """Open the event log of the chosen `.loki/` (closed when the command ends)."""
    from eventlog import FileEventLog

    log = FileEventLog(loki_dir(ctx))
    ctx.call_on_close(log.close)
    return log
