"""Named pause points for crash tests: a real `kill -9` lands exactly between two steps.

Inert unless $LOKILOG_FAULT_AT names the point: then the process writes $LOKILOG_FAULT_MARK
(so the test knows where it is) and waits, bounded, to be killed.
"""
from __future__ import annotations

import os
import time

MAX_PAUSE = 60.0


def fault_point(name: str) -> None:
    """Pause here if a crash test asked for it (a no-op otherwise)."""
    if os.environ.get("LOKILOG_FAULT_AT") != name:
        return
    mark = os.environ.get("LOKILOG_FAULT_MARK")
    if mark:
        with open(mark, "w") as handle:
            handle.write(name)
    deadline = time.monotonic() + MAX_PAUSE
    while time.monotonic() < deadline:
        time.sleep(0.05)
