"""The `lokilog` command line: a thin layer that parses arguments and calls the library."""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Iterable, Optional, Sequence

import typer

from .crash.capture import remember_loki_dir
from .errors import LokiGroup

HELP = """\
lokilog: one durable, append-only event log per project (`.loki/events/`), and the state
rebuilt from it.

Every command works on the `.loki/` directory named by --loki-dir, else $LOKI_DIR, else
./.loki.  Add --json to any command that prints results to get machine-readable output.

Examples:

  lokilog emit task --source runner --payload '{"action":"complete","task_id":"t1"}'

  lokilog tail -n 20            lokilog tail -f

  lokilog replay --type task --where payload.task_id=t1 --json

  lokilog verify                lokilog stats
"""

_app = typer.Typer(
    name="lokilog",
    cls=LokiGroup,
    help=HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

#: Modules that add commands; each exposes ``register(app)``. Imports inside a command body
#: keep `lokilog emit` fast: start-up cost is paid by every hook that emits.
COMMAND_MODULES = (
    "commands.log_cli",
    "commands.ingest_cli",
    "commands.doctor_cli",
    "commands.demo_cli",
    "commands.projection_cli",
    "commands.checkpoint_cli",
    "commands.audit_cli",
    "commands.cost_cli",
    "commands.metrics_cli",
    "commands.policy_cli",
    "commands.sync_cli",
    "commands.crash_cli",
    "commands.serve_cli",
    "commands.otel_cli",
    "commands.bridge_cli",
    "commands.learn_cli",
    "commands.gates_cli",
)

#: The module of each top-level command, so that one invocation imports only its own module.
#: A command not named here (and a bare `lokilog --help`) registers every module, so a command
#: missing from this table is slower to start, never absent; `demo` and `doctor` are left out on
#: purpose, as modules add their demo sections and doctor checks when they register.
COMMAND_HOMES = {
    **dict.fromkeys(("emit", "tail", "replay", "verify", "stats"), "commands.log_cli"),
    "ingest": "commands.ingest_cli",
    **dict.fromkeys(("rebuild", "state", "status", "watch"), "commands.projection_cli"),
    **dict.fromkeys(("checkpoint", "rollback"), "commands.checkpoint_cli"),
    "audit": "commands.audit_cli",
    "cost": "commands.cost_cli",
    "metrics": "commands.metrics_cli",
    **dict.fromkeys(("policy", "approve", "deny", "approvals"), "commands.policy_cli"),
    **dict.fromkeys(("sync", "webhook"), "commands.sync_cli"),
    **dict.fromkeys(("crash", "telemetry"), "commands.crash_cli"),
    **dict.fromkeys(("serve", "token"), "commands.serve_cli"),
    "otel": "commands.otel_cli",
    "bridge": "commands.bridge_cli",
    "learn": "commands.learn_cli",
    "gates": "commands.gates_cli",
}


def _print_version(value: bool) -> None:
    if value:
        from .version import version_line

        typer.echo(version_line())
        raise typer.Exit()


#: Root options that take a value, skipped when looking for the command's name.
_VALUED_ROOT_OPTIONS = ("--loki-dir",)

_registered: set[str] = set()


@_app.callback()
def _root(
    ctx: typer.Context,
    loki_dir: Optional[Path] = typer.Option(
        None, "--loki-dir", envvar="LOKI_DIR", help="The .loki directory (default ./.loki).",
        show_default=False,
    ),
    debug: bool = typer.Option(False, "--debug", help="Print the traceback of a failure (or set LOKI_DEBUG=1)."),
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version, expose_value=False,
                                 help="Print the version and exit."),
) -> None:
    ctx.obj = {"loki_dir": loki_dir}
    remember_loki_dir(loki_dir)


def command_name(args: Sequence[str]) -> str | None:
    """Return the top-level command named in ``args`` (after the root options), if any."""
    rest = iter(args)
    for arg in rest:
        if arg in _VALUED_ROOT_OPTIONS:
            next(rest, None)
        elif not arg.startswith("-"):
            return arg
    return None


def register(modules: Iterable[str]) -> typer.Typer:
    """Add the commands of ``modules`` to the root app (each module once) and return it."""
    for name in modules:
        if name not in _registered:
            importlib.import_module(name).register(_app)
            _registered.add(name)
    return _app


def app_for(args: Sequence[str]) -> typer.Typer:
    """The root app with what ``args`` needs registered: its command's module, or everything."""
    home = COMMAND_HOMES.get(command_name(args) or "")
    return register((home,) if home else COMMAND_MODULES)


def __getattr__(name: str):
    # `commands.cli.app` is the whole CLI (tests, `python -m commands`, typer's tooling).
    if name == "app":
        return register(COMMAND_MODULES)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """Console entry point of `lokilog` (kept here for callers that import it from this module)."""
    from .entry import main as entry_main

    entry_main()
