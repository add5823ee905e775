"""The one place that turns every exception reaching the CLI into one line and an exit code.

Exit codes: 0 success, 1 the operation failed or found problems (a read-only or full disk
included), 2 bad input (a malformed value, or a --loki-dir that cannot be one: a file, or under
a directory that does not exist; nothing was written), 3 a conflict with what is stored (a
stream moved on, an id reused). A closed stdout (``lokilog replay | head -1``) is the normal end
of a pipeline: exit 0, no message. The traceback is printed only with ``--debug`` or
``LOKI_DEBUG=1``.
"""
from __future__ import annotations

import errno
import functools
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, NoReturn

from eventlog.errors import (
    DuplicateIdError, EventDecodeError, EventLogError, InvalidEventError, SequenceConflictError,
)

from .labels import param_label

EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
EXIT_CONFLICT = 3
DEBUG_ENV = "LOKI_DEBUG"

if TYPE_CHECKING:
    import typer


def exit_code_for(error: BaseException) -> int:
    """Map an error to the CLI's exit code."""
    if isinstance(error, (SequenceConflictError, DuplicateIdError)):
        return EXIT_CONFLICT
    if isinstance(error, (InvalidEventError, EventDecodeError)):
        return EXIT_BAD_INPUT
    return EXIT_FAILURE


def message_for(error: BaseException) -> str:
    """The one line that tells a person what went wrong (without the ``lokilog: error:`` prefix)."""
    if isinstance(error, EventLogError):  # ours carry a full message, OSError subclasses too
        return _one_line(str(error))
    if isinstance(error, OSError):
        return _os_message(error)
    return _one_line(f"internal error: {type(error).__name__}: {error} "
                     f"(run with --debug or {DEBUG_ENV}=1 for the traceback)")


def error_line(error: BaseException) -> str:
    """The one line a command prints for ``error``."""
    return f"lokilog: error: {message_for(error)}"


def _os_message(error: OSError) -> str:
    path = error.filename
    reason = error.strerror.lower() if error.strerror else str(error)
    if path is None:
        return _one_line(reason)
    if error.errno == errno.ENOTDIR:
        blocker = first_non_directory(Path(path))
        if blocker is not None:
            return f"{blocker} is not a directory (a file is in the way of {path})"
    if error.errno == errno.EROFS:
        return f"cannot write {path}: read-only file system"
    return _one_line(f"{path}: {reason}")


def first_non_directory(path: Path) -> Path | None:
    """The first of ``path`` and its parents (from the top) that exists and is not a directory."""
    for candidate in reversed([path, *path.parents]):
        if candidate.exists() and not candidate.is_dir():
            return candidate
    return None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def debugging(ctx: typer.Context | None = None) -> bool:
    """True when --debug was given or LOKI_DEBUG is set to something other than 0/false/empty."""
    root = ctx.find_root() if ctx is not None else None
    if root is not None and root.params.get("debug"):
        return True
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no", "off")


def report(error: BaseException, debug: bool) -> int:
    """Print ``error`` as one line (after its traceback when debugging); return its exit code."""
    if debug:
        import traceback

        traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)
    print(error_line(error), file=sys.stderr)
    return exit_code_for(error)


def fail(error: BaseException, debug: bool) -> NoReturn:
    """Report ``error`` and exit with its code."""
    import typer

    raise typer.Exit(report(error, debug))


def silence_stdout() -> None:
    """Point stdout at /dev/null once its reader went away: no flush error at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())  # what is still buffered is flushed there at exit
        finally:
            os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass  # no real file descriptor behind stdout (in-process runs): nothing to flush later


def quiet_closed_stdout() -> NoReturn:
    """End quietly after the reader of stdout went away: exit 0, no message."""
    import typer

    silence_stdout()
    raise typer.Exit(0)


def _is_closed_pipe(error: BaseException) -> bool:
    return isinstance(error, BrokenPipeError) or (isinstance(error, OSError) and error.errno == errno.EPIPE)


@functools.cache
def _loki_group() -> type:
    # Built on first use: `lokilog emit` maps its errors with error_line and never loads typer.
    import typer
    from typer.core import TyperGroup

    class LokiGroup(TyperGroup):
        """The root command group: every exception becomes a one-line message and an exit code."""

        def invoke(self, ctx: typer.Context) -> Any:
            from .arguments import labelled, undecodable_argument

            line = [*getattr(ctx, "_protected_args", ()), *ctx.args]  # the parse consumes them
            try:
                undecodable_argument(ctx, self)
                return super().invoke(ctx)
            except (typer.Exit, typer.Abort):
                raise
            except Exception as error:  # noqa: BLE001 - this is the one place that maps them all
                if _is_closed_pipe(error):
                    quiet_closed_stdout()
                if isinstance(error, InvalidEventError) and error.parameter:
                    error = labelled(ctx, self, line, error)
                if getattr(error, "exit_code", None) is not None and hasattr(error, "show"):
                    raise  # the parser's own usage errors: typer prints them with the usage line
                if exit_code_for(error) == EXIT_FAILURE and not is_expected(error):
                    from .crash.capture import capture_exception

                    capture_exception(error)  # a bug in lokilog: recorded as a scrubbed crash event
                fail(error, debugging(ctx))

    return LokiGroup


def __getattr__(name: str):
    if name == "LokiGroup":
        return _loki_group()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def is_expected(error: BaseException) -> bool:
    """Failures lokilog reports as outcomes (a full disk, a lock held too long), not as its own bugs."""
    return isinstance(error, (EventLogError, OSError))


def option_label(ctx: typer.Context, name: str) -> str:
    """How the user writes the parameter called ``name`` in the code: '--context', 'TYPE'.

    The label comes from the parser's parameter objects, so a renamed option is named right.
    """
    for param in ctx.command.params:
        if param.name == name:
            return param_label(param)
    raise LookupError(f"{ctx.command.name} has no parameter {name!r}")


def bad_option(ctx: typer.Context, name: str, message: str) -> InvalidEventError:
    """Build the error for a bad value of the parameter ``name``, labelled as the user writes it (exit 2)."""
    return InvalidEventError(f"{option_label(ctx, name)}: {message}")


@contextmanager
def blame(ctx: typer.Context, name: str) -> Iterator[None]:
    """Put the label of parameter ``name`` in front of any bad-input error raised inside."""
    try:
        yield
    except InvalidEventError as error:
        raise InvalidEventError(f"{option_label(ctx, name)}: {error}") from error


def bad_input(message: str) -> InvalidEventError:
    """Build the error for a bad command-line value (exit code 2)."""
    return InvalidEventError(message)
