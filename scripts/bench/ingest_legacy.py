"""Benchmark the legacy ingest: Loki Mode dual writes and flat lines vs lokilog's own drop box.

Prints JSON: medians over repeated runs of
  - events/s ingesting N emit.sh dual writes (a file + a flat line each),
  - events/s ingesting N run.sh flat-only lines,
  - the baseline: events/s ingesting N lokilog drop-box files (native ids), same run,
  - the cost of a reader's idle check and of an idle full pass over what was ingested,
  - the first append of a new FileEventLog (a `lokilog emit`) with nothing new, and with one
    new Loki Mode file beside the N already ingested (Loki Mode's files stay in pending/),
with ratios to the baseline.

  python3 scripts/bench/ingest_legacy.py [--events 2000] [--repeat 5]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[2]), str(Path(__file__).resolve().parents[2] / "tests")]

from eventlog import Event, FileEventLog, LogSettings  # noqa: E402
from eventlog.pending import drop  # noqa: E402
from legacy_fixtures import append_flat, dual_write, flat_line, nested  # noqa: E402


def _timestamp(n: int) -> str:
    return f"2026-02-21T10:{n // 60000 % 60:02d}:{n // 1000 % 60:02d}.{n % 1000:03d}Z"


def populate(root: Path, kind: str, count: int) -> None:
    root.mkdir(parents=True)
    if kind == "dual":
        for n in range(count):
            dual_write(root, nested(f"{n:08x}", "task", "runner", _timestamp(n), {"action": "done", "n": n}))
    elif kind == "flat":
        append_flat(root, b"".join(flat_line(_timestamp(n), "metric", {"n": n}) for n in range(count)))
    else:
        for n in range(count):
            event = Event(seq=0, id=f"{n:032x}", type="task", source="cli", timestamp=_timestamp(n),
                          version="1.0", payload={"action": "done", "n": n})
            drop(root / "events" / "pending", event, durable=False)


def measure(kind: str, count: int) -> dict:
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:
        root = Path(tmp) / ".loki"
        populate(root, kind, count)
        with FileEventLog(root, settings=LogSettings()) as log:
            start = time.perf_counter()
            report = log.ingest_pending()
            elapsed = time.perf_counter() - start
            assert report.ingested == count, (kind, report.ingested)
            start = time.perf_counter()
            for _ in range(1000):
                log.ingester().changed()
            check = (time.perf_counter() - start) / 1000
            start = time.perf_counter()
            log.ingest_pending()
            idle = time.perf_counter() - start
        fresh_idle = _fresh_append(root)
        dual_write(root, nested("ffffffff", "task", "runner", "2026-02-21T11:00:00.000Z", {"new": 1}))
        fresh_new = _fresh_append(root)
    return {"events_per_s": count / elapsed, "idle_check_us": check * 1e6, "idle_pass_ms": idle * 1e3,
            "fresh_append_idle_ms": fresh_idle * 1e3, "fresh_append_one_new_ms": fresh_new * 1e3}


def _fresh_append(root: Path) -> float:
    start = time.perf_counter()
    with FileEventLog(root, settings=LogSettings()) as log:
        log.append("task", "cli", {"action": "x"})
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    runs = {kind: [measure(kind, args.events) for _ in range(args.repeat)] for kind in ("native", "dual", "flat")}
    out = {"events": args.events, "repeat": args.repeat}
    for kind, results in runs.items():
        out[kind] = {key: round(statistics.median(r[key] for r in results), 2) for key in results[0]}
    base = out["native"]["events_per_s"]
    out["ratio_to_native"] = {kind: round(out[kind]["events_per_s"] / base, 2) for kind in ("dual", "flat")}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
