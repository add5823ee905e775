"""The `lokilog` command line: a thin layer that parses arguments and calls the library."""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Optional

import typer

from .crash_capture import guarded, install_thread_hook, remember_loki_dir
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

app = typer.Typer(
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
    "commands.bridge_cli",
)


@app.callback()
def _root(
    ctx: typer.Context,
    loki_dir: Optional[Path] = typer.Option(
        None, "--loki-dir", envvar="LOKI_DIR", help="The .loki directory (default ./.loki).",
        show_default=False,
    ),
) -> None:
    ctx.obj = {"loki_dir": loki_dir}
    remember_loki_dir(loki_dir)


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def main() -> None:
    """Console entry point of `lokilog`: uncaught exceptions are recorded as scrubbed crash events."""
    from .crash_cli import show_disclosure_once

    install_thread_hook()
    show_disclosure_once()
    guarded(app)
