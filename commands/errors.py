"""The one place that turns library errors into CLI messages and exit codes."""
from __future__ import annotations

import functools

from eventlog.errors import (
    DuplicateIdError, EventDecodeError, EventLogError, InvalidEventError, SequenceConflictError,
)

#: Exit codes: 0 success, 1 the operation failed or found problems, 2 bad input (as for usage
#: errors), 3 a conflict with what is stored (a stream moved on, an id reused).
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
EXIT_CONFLICT = 3


def exit_code_for(error: EventLogError) -> int:
    """Map a library error to the CLI's exit code."""
    if isinstance(error, (SequenceConflictError, DuplicateIdError)):
        return EXIT_CONFLICT
    if isinstance(error, (InvalidEventError, EventDecodeError)):
        return EXIT_BAD_INPUT
    return EXIT_FAILURE


def error_line(error: EventLogError) -> str:
    """The one line a command prints for ``error``."""
    return f"lokilog: error: {error}"


@functools.cache
def _loki_group() -> type:
    # Built on first use: `lokilog emit` maps errors with exit_code_for and never loads typer.
    import typer
    from typer.core import TyperGroup

    class LokiGroup(TyperGroup):
        """The root command group: every EventLogError becomes a one-line message and an exit code."""

        def invoke(self, ctx: typer.Context):
            try:
                return super().invoke(ctx)
            except EventLogError as error:
                typer.echo(error_line(error), err=True)
                ctx.exit(exit_code_for(error))

    return LokiGroup


def __getattr__(name: str):
    if name == "LokiGroup":
        return _loki_group()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def bad_input(message: str) -> InvalidEventError:
    """Build the error for a bad command-line value (exit code 2)."""
    return InvalidEventError(message)
