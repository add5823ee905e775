"""The terminal's width as shutil.get_terminal_size() reports it, without importing shutil.

shutil brings bz2 and lzma with it, a noticeable part of the start-up of the commands that only
need a width (`lokilog --help`, argparse's formatters in commands/argparse_width.py).
"""
from __future__ import annotations

import os
import sys


def terminal_columns() -> int:
    """The columns shutil.get_terminal_size() reports, by the same rule: ``$COLUMNS``, else
    stdout's terminal, else 80."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80
