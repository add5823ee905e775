"""Run torture scenarios and print the table; exit 1 on any loss, duplicate, torn read or hang."""
from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from scripts.torture.common import Result

#: scenario module -> (trials in the short run, trials in the full run)
SCENARIOS = {
    "kill9": (40, 1000),
    "power_loss": (5, 40),
    "sigstop": (2, 20),
    "syscall_faults": (1, 6),
    "bitflips": (60, 5000),
    "fuzz": (60, 1000),
    "clock_skew": (1, 10),
    "lock_removal": (1, 10),
    "batch_kill": (6, 60),
    "active_bitflips": (200, 100_000),
    "group_commit": (2, 40),
    "leader_kill": (2, 30),
}

COLUMNS = ("scenario", "trials", "acknowledged", "lost", "duplicated", "torn_read", "max_stall_s", "ok")


def run_one(name: str, trials: int, seed: int) -> Result:
    module = importlib.import_module(f"scripts.torture.{name}")
    return module.run(trials=trials, seed=seed)


WIDTHS = (40, 7, 12, 5, 10, 9, 11, 5)


def table(rows: list[dict]) -> str:
    cells = [[str(r[c]) for c in COLUMNS] for r in rows]
    widths = [max(w, len(c), *(len(row[i]) for row in cells)) for i, (c, w) in enumerate(zip(COLUMNS, WIDTHS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("scenarios", nargs="*", help=f"default: all of {', '.join(SCENARIOS)}")
    parser.add_argument("--full", action="store_true", help="the long run (>= 1000 kill trials)")
    parser.add_argument("--trials", type=int, help="override the trial count of every scenario")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print JSON rows instead of the table")
    opts = parser.parse_args(argv)
    names = opts.scenarios or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    rows, started = [], time.monotonic()
    for name in names:
        trials = opts.trials or SCENARIOS[name][1 if opts.full else 0]
        rows.append(run_one(name, trials, opts.seed).to_dict())
        if not opts.json:
            lines = table(rows[-1:]).splitlines()
            print("\n".join(lines if len(rows) == 1 else lines[1:]), flush=True)
    if opts.json:
        print(json.dumps({"rows": rows, "seconds": round(time.monotonic() - started, 1)}, indent=2))
    else:
        print(f"\n{len(rows)} scenarios in {time.monotonic() - started:.0f}s")
        for row in rows:
            for failure in row["failures"]:
                print(f"FAIL {row['scenario']}: {failure}")
    return 0 if all(r["ok"] for r in rows) else 1


def main_for(name: str) -> int:
    """Entry point of one scenario script: `python scripts/torture/<name>.py [--full] ...`."""
    return main([name, *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
