"""argparse formatters that size help to the terminal without importing shutil.

argparse makes a formatter for every ``add_argument``, and its default one asks
``shutil.get_terminal_size()`` for the width: importing shutil (with bz2 and lzma) is a
noticeable part of the start-up of the commands that parse with argparse (`lokilog emit`,
the typer-free front). The width is the same (commands/terminal_width.py).
"""
from __future__ import annotations

import argparse

from .terminal_width import terminal_columns


class _TerminalWidth:
    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        # As argparse.HelpFormatter: the terminal's width less 2.
        super().__init__(prog, indent_increment, max_help_position,  # type: ignore[call-arg]
                         terminal_columns() - 2 if width is None else width)


class HelpFormatter(_TerminalWidth, argparse.HelpFormatter):
    """argparse's default formatter."""


class RawDescriptionHelpFormatter(_TerminalWidth, argparse.RawDescriptionHelpFormatter):
    """argparse's formatter that keeps the description's own line breaks."""
