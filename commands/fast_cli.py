"""A front for the commands people run most (`--help`, `tail`, `verify`, `status`, `rebuild`) that needs no typer.

typer and the validation library it loads cost several times the interpreter's own start
(scripts/bench/bench_cli_startup.py), and these commands are run by hand and by scripts all
the time. This parser takes only what it is sure to read the way the typer app does; anything
else (a bad or unusual option, `<command> --help`, a narrow terminal, an argument that is not
UTF-8) returns None and the typer app runs instead, so usage errors, help pages and their wording
stay the typer app's own. The commands' behaviour lives in the same library calls either way.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from . import simple_args

if TYPE_CHECKING:
    import argparse


def run(args: Sequence[str]) -> int | None:
    """Run ``args`` (the process's arguments) if this front takes them; return the exit code, or None."""
    if any(_undecodable(arg) for arg in args):
        return None
    root = _root_options(args)
    if root is None:
        return None
    loki_dir, debug, rest = root
    if rest in (["--help"], ["-h"]):
        from .fast_help import top_level_help

        text = top_level_help()
        return None if text is None else _printed(lambda: print(text, end=""))
    command = _COMMANDS.get(rest[0]) if rest else None
    if command is None or "--help" in rest or "-h" in rest:
        return None
    options = simple_args.parse(rest[1:], *command[2]) if command[2] else None
    if options is None:
        options = parse_strictly(command[0](), rest[1:])
    if options is None:
        return None
    from .crash.capture import remember_loki_dir
    from .msgspec_alone import import_msgspec

    import_msgspec()
    remember_loki_dir(loki_dir if loki_dir is not None else (os.environ.get("LOKI_DIR") or None))
    return command[1](options, loki_dir, debug)


def _undecodable(arg: str) -> bool:
    try:
        arg.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _root_options(args: Sequence[str]) -> tuple[Path | None, bool, list[str]] | None:
    """Split `[--loki-dir DIR] [--debug] REST...`; None for any other root option."""
    loki_dir, debug, i = None, False, 0
    while i < len(args) and args[i].startswith("-") and args[i] not in ("--help", "-h"):
        arg = args[i]
        if arg == "--loki-dir" and i + 1 < len(args):
            loki_dir, i = Path(args[i + 1]), i + 2
        elif arg.startswith("--loki-dir="):
            loki_dir, i = Path(arg.partition("=")[2]), i + 1
        elif arg == "--debug":
            debug, i = True, i + 1
        else:
            return None
    return loki_dir, debug, list(args[i:])


def parse_strictly(parser: argparse.ArgumentParser, args: list[str]) -> argparse.Namespace | None:
    """Parse ``args`` with ``parser``; None for anything it does not take whole."""
    import argparse

    try:
        options, extra = parser.parse_known_args(args)
    except (argparse.ArgumentError, ValueError):
        return None
    return None if extra else options


def _parser(prog: str) -> argparse.ArgumentParser:
    # No abbreviations (click has none) and no exits: a problem hands over to the typer app.
    import argparse

    from .argparse_width import HelpFormatter

    return argparse.ArgumentParser(prog=prog, add_help=False, allow_abbrev=False, exit_on_error=False,
                                   formatter_class=HelpFormatter)


def tail_parser() -> argparse.ArgumentParser:
    p = _parser("lokilog tail")
    p.add_argument("--lines", "-n", type=int, default=10)
    p.add_argument("--follow", "-f", action="store_true")
    p.add_argument("--type", "-t", dest="types", action="append")
    p.add_argument("--json", action="store_true")
    return p


def json_only_parser() -> argparse.ArgumentParser:
    p = _parser("lokilog")
    p.add_argument("--json", action="store_true")
    return p


def rebuild_parser() -> argparse.ArgumentParser:
    p = _parser("lokilog rebuild")
    p.add_argument("names", nargs="*")
    p.add_argument("--json", action="store_true")
    return p


def _root_of(loki_dir: Path | None) -> Path:
    from eventlog import resolve_loki_dir

    from .context import check_loki_dir

    root = resolve_loki_dir(loki_dir)
    named_by = " (given by --loki-dir)" if loki_dir is not None else (
        " (given by $LOKI_DIR)" if os.environ.get("LOKI_DIR") else "")
    check_loki_dir(root, named_by)
    return root


def _tail(options: argparse.Namespace, loki_dir: Path | None, debug: bool) -> int | None:
    if options.lines < 0:
        return None  # the typer app names the bound
    from .fast_commands import tail

    return _guarded(lambda: tail(_root_of(loki_dir), options.lines, options.follow, options.types, options.json),
                    debug)


def _verify(options: argparse.Namespace, loki_dir: Path | None, debug: bool) -> int:
    from .fast_commands import verify

    return _guarded(lambda: verify(_root_of(loki_dir), options.json), debug)


def _status(options: argparse.Namespace, loki_dir: Path | None, debug: bool) -> int:
    from .fast_commands import status

    return _guarded(lambda: status(_root_of(loki_dir), options.json), debug)


def _rebuild(options: argparse.Namespace, loki_dir: Path | None, debug: bool) -> int:
    from .fast_commands import rebuild

    return _guarded(lambda: rebuild(_root_of(loki_dir), list(getattr(options, "names", None) or ()), options.json),
                    debug)


#: The parsers above as commands/simple_args.py reads them: (options, defaults).
TAIL_OPTIONS = ({"--lines": ("lines", "int"), "-n": ("lines", "int"), "--follow": ("follow", "flag"),
                 "-f": ("follow", "flag"), "--type": ("types", "append"), "-t": ("types", "append"),
                 "--json": ("json", "flag")},
                {"lines": 10, "follow": False, "types": None, "json": False})
JSON_ONLY_OPTIONS = ({"--json": ("json", "flag")}, {"json": False})

#: Each command this front takes: its parser, what runs it, and its options for simple_args.
_COMMANDS: dict[str, tuple[Callable[[], argparse.ArgumentParser], Callable, tuple]] = {
    "tail": (tail_parser, _tail, TAIL_OPTIONS),
    "verify": (json_only_parser, _verify, JSON_ONLY_OPTIONS),
    "status": (json_only_parser, _status, JSON_ONLY_OPTIONS),
    # simple_args takes `rebuild [--json]`; named projections go through the argparse parser.
    "rebuild": (rebuild_parser, _rebuild, JSON_ONLY_OPTIONS),
}


def _guarded(body: Callable[[], int], debug: bool) -> int:
    """Run ``body``; map an exception the way the typer app's root group does (commands/errors.py)."""
    try:
        return _printed(body)
    except Exception as error:  # noqa: BLE001 - the same one place as LokiGroup.invoke
        from .errors import EXIT_FAILURE, is_expected, debugging, exit_code_for, report

        if exit_code_for(error) == EXIT_FAILURE and not is_expected(error):
            from .crash.capture import capture_exception

            capture_exception(error)  # a bug in lokilog: recorded as a scrubbed crash event
        return report(error, debug or debugging())


def _printed(body: Callable[[], int | None]) -> int:
    """Run ``body``, which prints; a closed stdout ends quietly with 0, as in the typer app."""
    try:
        code = body()
        sys.stdout.flush()
    except BrokenPipeError:
        from .errors import silence_stdout

        silence_stdout()
        return 0
    return code or 0
