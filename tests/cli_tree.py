"""The commands the CLI registers, walked through the click tree typer builds (eager or lazy)."""
from __future__ import annotations

from typing import Any, Iterator

import typer
import typer.main


def walk_commands(app: typer.Typer) -> Iterator[tuple[str, Any]]:
    """Yield (path, command) for the root and every group and command below it, e.g. ('checkpoint show', cmd)."""
    root = typer.main.get_command(app)

    def walk(command: Any, path: list[str], ctx: typer.Context) -> Iterator[tuple[str, Any]]:
        yield " ".join(path), command
        if hasattr(command, "list_commands"):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                if sub is not None and not sub.hidden:
                    yield from walk(sub, [*path, name], typer.Context(sub, info_name=name, parent=ctx))

    yield from walk(root, [], typer.Context(root, info_name="lokilog"))


def runnable_commands(app: typer.Typer) -> list[str]:
    """Every command path that runs something: leaves, and groups that run without a subcommand."""
    return [path for path, command in walk_commands(app)
            if path and (not hasattr(command, "list_commands") or getattr(command, "invoke_without_command", False))]
