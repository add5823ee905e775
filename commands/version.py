"""What `lokilog --version` prints."""
from __future__ import annotations

import sys


def version_line() -> str:
    """``lokilog 0.1.0 (Python 3.11.2)``; a checkout that is not installed says so."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        number = version("lokilog")
    except PackageNotFoundError:
        number = "(not installed: running from a checkout)"
    return f"lokilog {number} (Python {'.'.join(map(str, sys.version_info[:3]))})"
