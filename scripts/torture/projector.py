"""A projection runner for the kill -9 loop: catches every registered projection up, forever.

    projector.py ROOT

Each pass brings every projection in projections.registry up to the log's head and writes
its views (the audit chain among them, extended incrementally); prints ``PASS <head seq>``.
Killed at random moments, it must leave views that the next pass turns into exactly what a
clean rebuild from the log writes.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from eventlog import EventLogError  # noqa: E402
from projections.engine import catch_up  # noqa: E402
from projections.registry import all_projections  # noqa: E402


def catch_up_all(root: Path) -> int:
    """One pass over every projection; return the seq they reached."""
    seq = 0
    for projection in all_projections():
        seq = max(seq, catch_up(root, projection).seq)
    return seq


def main(root: str) -> int:
    parent = os.getppid()
    while os.getppid() == parent:  # never outlive the suite
        try:
            seq = catch_up_all(Path(root))
        except (FileNotFoundError, EventLogError):
            continue  # the first writer has not created the log yet
        sys.stdout.write(f"PASS {seq}\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
