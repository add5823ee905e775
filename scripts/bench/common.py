"""Helpers shared by the benchmarks: repeated timing with medians, and a disk-backed scratch dir."""
from __future__ import annotations

import gc
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


def percentiles_us(samples: list[int]) -> tuple[float, float]:
    """p50 and p99 in microseconds of nanosecond samples."""
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000  # noqa: E731
    return pick(0.50), pick(0.99)


def time_calls(fn, args: tuple, calls: int) -> tuple[float, float]:
    """p50 and p99 (us) of ``calls`` calls of ``fn(*args)``, after a warm-up and a collection."""
    clock = time.perf_counter_ns
    samples = [0] * calls
    for _ in range(min(1000, calls)):  # warm caches and the regex engine
        fn(*args)
    gc.collect()
    for i in range(calls):
        started = clock()
        fn(*args)
        samples[i] = clock() - started
    return percentiles_us(samples)


def median_latency(repeat: int, fn, args: tuple, calls: int) -> dict[str, float]:
    """The medians over ``repeat`` runs of :func:`time_calls`' p50 and p99."""
    runs = [time_calls(fn, args, calls) for _ in range(repeat)]
    return {"p50_us": round(statistics.median(r[0] for r in runs), 2),
            "p99_us": round(statistics.median(r[1] for r in runs), 2)}


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
