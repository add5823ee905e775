"""`lokilog demo`: emit a simulated run into a fresh `.loki/` and show what lokilog makes of it."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable, Optional

import typer

from eventlog import FileEventLog

#: Sections of the demo's report, in order; features add theirs with :func:`add_section`.
#: Each takes the `.loki/` path and returns the text to print.
SECTIONS: list[tuple[str, Callable[[Path], str]]] = []


def add_section(title: str, render: Callable[[Path], str]) -> None:
    SECTIONS.append((title, render))


def register(app: typer.Typer) -> None:
    app.command()(demo)


def demo(
    directory: Optional[Path] = typer.Argument(
        None, help="Where to create the fresh .loki/ (default: a new temporary directory)."
    ),
) -> None:
    """Emit a small simulated run (sessions, tasks, tokens, gates, a checkpoint, an error) into a
    fresh .loki/ and print what lokilog makes of it."""
    from eventlog.stats import log_stats

    from .demo import simulated_run
    from .demo_governance import run_gates_demo
    from .output import event_line

    root = (directory or Path(tempfile.mkdtemp(prefix="lokilog-demo-"))) / ".loki"
    if root.exists() and any(root.iterdir()):
        raise typer.BadParameter(f"{root} already exists and is not empty; pick a fresh directory")
    with FileEventLog(root) as log:
        receipts = log.append_many(simulated_run())
        typer.echo(f"Emitted {len(receipts)} events into {root}\n")
        for event in log.read():
            typer.echo(event_line(event, width=120))
        typer.echo(f"\n== Governance gates (lokilog gates) ==\n{run_gates_demo(log, root)}")
        figures = log_stats(log.paths, log.read_raw())
    typer.echo(f"\nLog: {figures.events} events in {figures.segments} segment(s), {figures.bytes} bytes; "
               f"types {figures.by_type}")
    for title, render in SECTIONS:
        typer.echo(f"\n== {title} ==\n{render(root)}")
    typer.echo(f"\nExplore it yourself:  LOKI_DIR={root} lokilog replay --type task")
