"""The console entry point of `lokilog`: uncaught exceptions are recorded as scrubbed crash events.

It loads nothing heavy itself: `lokilog emit` goes straight to its own parser, `--help`, `tail`,
`verify`, `status` and `rebuild` to a front without typer (commands/fast_cli.py), and only other commands (or
options that front does not take) build the typer app (commands/cli.py), with just the module
of the named command.
"""
from __future__ import annotations

import sys

from .crash.capture import guarded, install_thread_hook, remember_loki_dir


def main() -> None:
    """Run `lokilog` with the process's arguments."""
    from .emit_cli import run as run_emit, split_root_options

    install_thread_hook()
    _disclose_if_interactive()
    args = sys.argv[1:]
    emit = split_root_options(args)
    if emit is not None:
        from .msgspec_alone import import_msgspec

        import_msgspec()
        loki_dir, rest = emit
        remember_loki_dir(loki_dir)
        guarded(lambda: sys.exit(run_emit(rest, loki_dir)))
    from .fast_cli import run as run_fast

    code = guarded(lambda: run_fast(args))
    if code is not None:
        sys.exit(code)
    from .cli import app_for

    guarded(app_for(args))


def _disclose_if_interactive() -> None:
    # The disclosure is shown only on a terminal: a hook's `lokilog emit` never loads or reads
    # the consent config for it (commands/telemetry/consent.py).
    try:
        interactive = sys.stderr.isatty()
    except Exception:  # noqa: BLE001 - no stderr, or a closed one: nothing to show it on
        return
    if interactive:
        from .telemetry.consent import show_disclosure_once

        show_disclosure_once()

