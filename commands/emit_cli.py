"""`lokilog emit`: append one event. Parsed with argparse, not typer, because every hook pays
this command's start-up once per event: typer and the validation library it loads cost several
times the interpreter's own start (see scripts/bench/bench_cli_startup.py). The typer app lists
it and hands its arguments here, so this parser is the one definition of its options. A plain
line (exact option names, one word per value) is read without importing argparse at all
(commands/simple_args.py), to the same options.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from . import simple_args

if TYPE_CHECKING:
    import argparse

EMIT_HELP = """\
Append one event to the log and print its seq and id.

The payload is a JSON object (--payload '{...}', --payload - for stdin, --payload @file)
and/or key=value pairs (strings) and key:=json pairs (numbers, booleans, objects):

  lokilog emit task --source runner --payload '{"action":"complete","task_id":"t1"}'

  lokilog emit task -s runner -a complete task_id=t1 attempt:=2

--id makes the emit idempotent (running it twice stores one event). --stream with
--expected-version appends only if the stream still holds exactly that many events
(exit code 3 otherwise). If the log lock is busy past its bound the event is written
to the pending drop box instead and ingested later; the output says so.

Exit codes: 0 stored, 2 bad input (nothing written), 3 conflict, 1 other failure.
"""

SHORT_HELP = "Append one event to the log and print its seq and id."


def parser() -> argparse.ArgumentParser:
    """The argument parser of `lokilog emit`."""
    import argparse

    from .argparse_width import RawDescriptionHelpFormatter

    p = argparse.ArgumentParser(prog="lokilog emit", description=EMIT_HELP, formatter_class=RawDescriptionHelpFormatter)
    p.add_argument("type", help="Event type: task, session, state, metric, error, ... or your own.")
    p.add_argument("pairs", nargs="*", help="key=value or key:=json payload fields.")
    p.add_argument("--source", "-s", default="cli", help="Who emits: runner, hook, cli, vscode, ... (default cli).")
    p.add_argument("--payload", "-p", help="JSON object, '-' for stdin, '@FILE'.")
    p.add_argument("--action", "-a", help="Shorthand for payload.action.")
    p.add_argument("--id", help="Event id; reusing it makes the emit idempotent.")
    p.add_argument("--stream", help="The entity the event belongs to, e.g. task-001.")
    p.add_argument("--expected-version", type=int, help="Append only if --stream holds exactly this many events.")
    p.add_argument("--correlation-id")
    p.add_argument("--causation-id")
    p.add_argument("--timestamp", help="RFC 3339; default now.")
    p.add_argument("--durability", help="always (fsync, default), batch or never; or $LOKI_EVENTS_DURABILITY.")
    p.add_argument("--json", action="store_true", help="Print the receipt as JSON.")
    return p


#: The options of :func:`parser` as commands/simple_args.py reads them, and their defaults.
OPTIONS = {
    "--source": ("source", "value"), "-s": ("source", "value"), "--payload": ("payload", "value"),
    "-p": ("payload", "value"), "--action": ("action", "value"), "-a": ("action", "value"),
    "--id": ("id", "value"), "--stream": ("stream", "value"), "--expected-version": ("expected_version", "int"),
    "--correlation-id": ("correlation_id", "value"), "--causation-id": ("causation_id", "value"),
    "--timestamp": ("timestamp", "value"), "--durability": ("durability", "value"), "--json": ("json", "flag"),
}
DEFAULTS = {"source": "cli", "payload": None, "action": None, "id": None, "stream": None, "expected_version": None,
            "correlation_id": None, "causation_id": None, "timestamp": None, "durability": None, "json": False}


def parse(args: Sequence[str]):
    """The options of ``args``: read directly when the line is plain, else by :func:`parser`."""
    options = simple_args.parse(args, OPTIONS, DEFAULTS, positional=("type", "pairs"))
    return options if options is not None else parser().parse_intermixed_args(list(args))


def run(args: Sequence[str], loki_dir: Path | None) -> int:
    """Parse ``args``, append the event to the log of ``loki_dir``, print the receipt; return the exit code.

    Errors follow the CLI's one contract (commands/errors.py): one line, the documented exit
    code, the traceback only with LOKI_DEBUG=1; a closed stdout ends quietly.
    """
    options = parse(args)
    try:
        _check_text(options)
        receipt = _append(options, loki_dir)
        text = _receipt_text(receipt, options.json)
    except Exception as error:  # noqa: BLE001 - mapped to one line like every other command
        from .errors import debugging, report

        return report(error, debugging())
    try:
        print(text, flush=True)
    except BrokenPipeError:
        from .errors import silence_stdout

        silence_stdout()
    return 0


#: The options whose values are text, labelled as the user writes them.
_TEXT_OPTIONS = (("type", "type"), ("source", "--source"), ("payload", "--payload"), ("action", "--action"),
                 ("id", "--id"), ("stream", "--stream"), ("correlation_id", "--correlation-id"),
                 ("causation_id", "--causation-id"), ("timestamp", "--timestamp"), ("durability", "--durability"))


def _check_text(options: argparse.Namespace) -> None:
    """Name the argument that is not valid UTF-8 (a shell can pass any bytes)."""
    from eventlog import InvalidEventError

    named = [(label, getattr(options, attribute)) for attribute, label in _TEXT_OPTIONS]
    for label, value in named + [("PAIRS", pair) for pair in options.pairs]:
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raw = value.encode("utf-8", "surrogateescape")
                raise InvalidEventError(f"{label}: {raw!r} is not valid UTF-8") from None


def _append(options: argparse.Namespace, loki_dir: Path | None):
    from eventlog import FileEventLog, InvalidEventError, resolve_loki_dir

    from .context import check_loki_dir
    from .payloads import build_payload, load_payload_text, parse_object

    try:
        base = parse_object(load_payload_text(options.payload))
    except InvalidEventError as error:
        raise InvalidEventError(f"--payload: {error}") from error
    body = {**base, **build_payload(None, options.pairs, options.action)}
    root = resolve_loki_dir(loki_dir)
    named_by = " (given by --loki-dir)" if loki_dir is not None else (
        " (given by $LOKI_DIR)" if os.environ.get("LOKI_DIR") else "")
    check_loki_dir(root, named_by)
    with FileEventLog(root) as log:
        return log.append(
            options.type, options.source, body, id=options.id, stream=options.stream,
            expected_version=options.expected_version, correlation_id=options.correlation_id,
            causation_id=options.causation_id, timestamp=options.timestamp, durability=options.durability,
        )


def _receipt_text(receipt, as_json: bool) -> str:
    if as_json:
        from .output import to_json

        return to_json(receipt)
    if receipt.status == "appended":
        return f"seq {receipt.seq}  id {receipt.id}"
    if receipt.status == "duplicate":
        return f"seq {receipt.seq}  id {receipt.id}  (already stored; nothing written)"
    return f"pending  id {receipt.id}  (log busy: queued in {receipt.pending_file})"


def split_root_options(args: Sequence[str]) -> tuple[Path | None, list[str]] | None:
    """Split `[--loki-dir DIR] emit ARGS...` into (DIR, ARGS); None if anything else comes first."""
    loki_dir, i = None, 0
    while i < len(args):
        arg = args[i]
        if arg == "emit":
            return loki_dir, list(args[i + 1:])
        if arg == "--loki-dir" and i + 1 < len(args):
            loki_dir, i = Path(args[i + 1]), i + 2
        elif arg.startswith("--loki-dir="):
            loki_dir, i = Path(arg.partition("=")[2]), i + 1
        else:
            return None
    return None
