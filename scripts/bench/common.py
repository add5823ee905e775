"""Helpers shared by the benchmarks: repeated timing with medians, and a disk-backed scratch dir."""
from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def median_rate(run: Callable[[], int], repeats: int) -> float:
    """Run ``run`` (which returns how many operations it did) ``repeats`` times; median ops/s."""
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        count = run()
        rates.append(count / (time.perf_counter() - started))
    return statistics.median(rates)


@contextmanager
def scratch_dir(prefix: str):
    """A fresh directory on a disk-backed file system (/var/tmp, not a tmpfs /tmp)."""
    base = os.environ.get("LOKILOG_BENCH_DIR", "/var/tmp")
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def emit(results: dict) -> None:
    print(json.dumps(results, indent=2))
