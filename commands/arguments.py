"""Command-line values that are not text: found before a command runs, named as the user wrote them.

An argument that was not valid UTF-8 reaches Python with surrogate escapes; deep inside, it
would fail as "payload cannot be encoded" or worse. Only when such an argument is present is
the command line parsed a second time (leniently) to find which parameter holds it.
"""
from __future__ import annotations

from typing import Any, Iterable

import typer

from eventlog.errors import InvalidEventError

from .labels import param_label


def _undecodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _texts(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _texts(item)


def labelled(ctx: typer.Context, group: Any, line: list[str], error: InvalidEventError) -> InvalidEventError:
    """``error`` with its parameter named as the user spells it ('--since'), if the command has that parameter."""
    for param, _ in _parsed(ctx, group, line):
        if param.name == error.parameter:
            relabelled = InvalidEventError(f"{param_label(param)}: {error.detail}")
            relabelled.__cause__, relabelled.__traceback__ = error, error.__traceback__
            return relabelled
    return error


def undecodable_argument(ctx: typer.Context, group: Any) -> None:
    """Raise a bad-input error naming the parameter whose value is not valid UTF-8, if there is one."""
    rest = [*getattr(ctx, "_protected_args", ()), *ctx.args]
    if not any(_undecodable(arg) for arg in rest):
        return
    for param, value in _parsed(ctx, group, rest):
        for text in _texts(value):
            if _undecodable(text):
                raw = text.encode("utf-8", "surrogateescape")
                raise InvalidEventError(f"{param_label(param)}: {raw!r} is not valid UTF-8")  # bad input: exit 2


def _parsed(ctx: typer.Context, command: Any, rest: list[str]) -> list[tuple[Any, Any]]:
    """(parameter, value) of every level of the command line below ``ctx``, parsed leniently."""
    found: list[tuple[Any, Any]] = []
    parent = ctx
    try:
        while rest and hasattr(command, "get_command"):
            name, command, rest = command.resolve_command(parent, rest)
            if command is None:
                break
            parent = command.make_context(name, list(rest), parent=parent, resilient_parsing=True)
            found += [(p, parent.params.get(p.name)) for p in command.params]
            rest = [*getattr(parent, "_protected_args", ()), *parent.args]
    except Exception:  # noqa: BLE001 - an unparsable line is reported by the real parse
        pass
    return found
