"""A reader for the torture scenarios: reads the whole log over and over while writers die.

    reader.py ROOT

Prints ``PASS <events> <bad lines> <gaps>`` after each full read; readers never lock, so a
torn or in-flight line must never reach them.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from eventlog import FileEventLog, LogCorruptedError  # noqa: E402


def main(root: str) -> int:
    parent = os.getppid()
    with FileEventLog(root) as log:
        while os.getppid() == parent:  # never outlive the suite
            bad = []
            try:
                seqs = [e.seq for e in log.read(ingest=False, on_bad_line=bad.append)]
            except (FileNotFoundError, LogCorruptedError):
                continue  # the first writer has not created the log yet
            gaps = sum(1 for a, b in zip(seqs, seqs[1:]) if b != a + 1) + (bool(seqs) and seqs[0] != 1)
            sys.stdout.write(f"PASS {len(seqs)} {len(bad)} {gaps}\n")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
