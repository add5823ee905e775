"""Checkpoint create and rollback times against a plain recursive copy (Loki Mode's approach).

Run: python3 scripts/bench/checkpoint_bench.py [--files 500] [--size 2048] [--repeat 5]
Prints JSON: medians in milliseconds and ratios to the copytree baseline measured in this run.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from commands.checkpoints.rollback import rollback  # noqa: E402
from commands.checkpoints.lifecycle import create  # noqa: E402


def populate(loki: Path, files: int, size: int) -> None:
    for i in range(files):
        path = loki / ("queue" if i % 2 else "state") / f"d{i % 10}" / f"f{i}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size // 2).hex().encode())
    (loki / "session.json").write_text("{}")


def touch_some(loki: Path, files: int) -> None:
    for i in range(0, files, 10):  # a tenth of the files change between checkpoints
        path = loki / ("queue" if i % 2 else "state") / f"d{i % 10}" / f"f{i}.json"
        path.write_bytes(os.urandom(64).hex().encode())


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    samples: dict[str, list[float]] = {"copytree": [], "create_first": [], "create_next": [], "rollback": []}
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
            loki = Path(tmp) / ".loki"
            populate(loki, args.files, args.size)

            def copy() -> None:
                dest = Path(tmp) / "copy"
                for name in ("session.json", "state", "queue"):
                    src = loki / name
                    (shutil.copytree if src.is_dir() else shutil.copy2)(src, dest / name)

            (Path(tmp) / "copy").mkdir()
            samples["copytree"].append(timed(copy))
            first = {}
            samples["create_first"].append(timed(lambda: first.setdefault("m", create(loki, "a").manifest)))
            touch_some(loki, args.files)
            samples["create_next"].append(timed(lambda: create(loki, "b")))
            samples["rollback"].append(timed(lambda: rollback(loki, first["m"].id)))
    medians = {k: round(statistics.median(v), 2) for k, v in samples.items()}
    base = medians["copytree"]
    print(json.dumps({
        "files": args.files, "size": args.size, "repeat": args.repeat, "median_ms": medians,
        "ratio_to_copytree": {k: round(v / base, 2) for k, v in medians.items() if k != "copytree"},
        "note": "copytree does no fsync; lokilog fsyncs every new object, the manifest and directories",
    }, indent=2))


if __name__ == "__main__":
    main()
