"""Start-up cost of `lokilog` commands and of the bash emitter, next to baselines from the same run.

    python scripts/bench/bench_cli_startup.py [--repeats 15] [--batch 1000] [--bash-only] [--compare SCRIPT]

Run it with the interpreter of the venv lokilog is installed in: that venv's `lokilog` console
script is what is timed. Every case is one process start, the cases taking turns in each round
so that machine load falls on all of them alike; figures are medians in milliseconds.

- Python: `lokilog emit` (default durability `always`, and `never`), `--help`, `tail -n 20`,
  `status` and `verify` on a small log; baseline: the bare interpreter of the same venv
  (`python -c pass`). Targets: emit <= 2.5x the bare interpreter, the others <= 3x. Also the
  import of typer with the validation library it loads, the floor under any typer command.
- bash: `lokilog-emit` one process per event, and `--batch` per event; baselines: Loki Mode's
  emit.sh equivalent (bash start + `flock` + append), and the floor (bash start + one
  fork/exec of `true`). Target: one emit <= 2x the floor; batch <= 0.2 ms per event.
  `--bash-only` skips the Python cases (quick to iterate on); `--compare SCRIPT` times another
  copy of lokilog-emit (say, the one on main) in the same rounds, for an A/B figure.

The packages' bytecode is compiled first (as `pip install` does), and the timed processes run
with PYTHONDONTWRITEBYTECODE removed from their environment: a caller that sets it would
otherwise have every start recompile every module, which is not what an installed lokilog pays.
"""
from __future__ import annotations

import argparse
import compileall
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import ROOT, emit, scratch_dir

BASH_EMIT = ROOT / "scripts" / "lokilog-emit"
#: The packages `lokilog` imports from this checkout; compiled like an install does before timing.
PACKAGES = ("eventlog", "commands", "projections", "subscribers")
TARGETS = {"emit": 2.5, "emit_never": 2.5, "help": 3.0, "tail": 3.0, "status": 3.0, "verify": 3.0}


def lokilog_command() -> list[str]:
    script = Path(sys.executable).with_name("lokilog")
    return [str(script)] if script.exists() else [sys.executable, "-m", "commands"]


def cases(loki: Path, bash_only: bool = False, compare: Path | None = None) -> dict[str, tuple[list[str], dict[str, str]]]:
    """Each case: the argv of one process start and extra environment."""
    lokilog = [*lokilog_command(), "--loki-dir", str(loki)]
    lock, flat = loki / "baseline.lock", loki / "baseline.jsonl"
    line = '{"timestamp":"2026-01-01T00:00:00.000Z","type":"task","data":{"action":"x"}}'
    plan = {
        "bare_interpreter": ([sys.executable, "-c", "pass"], {}),
        "import_typer": ([sys.executable, "-c", "import typer, typer._adapters"], {}),
        "emit": ([*lokilog, "emit", "task", "-s", "hook", "-a", "start", "task_id=t1"], {}),
        "emit_never": ([*lokilog, "emit", "task", "-s", "hook", "-a", "start", "task_id=t1"],
                       {"LOKI_EVENTS_DURABILITY": "never"}),
        "help": ([*lokilog, "--help"], {}),
        "tail": ([*lokilog, "tail", "-n", "20"], {}),
        "status": ([*lokilog, "status"], {}),
        "verify": ([*lokilog, "verify"], {}),
        "bash_flock_append": (["bash", "-c", f'exec 9>>"$0"; flock -w 5 9; printf "%s\\n" \'{line}\' >>"$1"',
                               str(lock), str(flat)], {}),
        "bash_floor": (["bash", "-c", "/bin/true; :"], {}),
        "bash_emit": (["bash", str(BASH_EMIT), "task", "hook", "start", "task_id=t1"], {"LOKI_DIR": str(loki)}),
    }
    if compare is not None:
        plan["bash_emit_compared"] = (["bash", str(compare), "task", "hook", "start", "task_id=t1"], {"LOKI_DIR": str(loki)})
    if bash_only:
        plan = {name: case for name, case in plan.items() if name.startswith("bash")}
    return plan


def time_once(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{argv[:4]}... failed ({done.returncode}): {done.stderr.decode()[-400:]}")
    return elapsed * 1000


def compile_bytecode() -> bool:
    """Write every package module's bytecode into its __pycache__, as `pip install` does."""
    ok = True
    for package in PACKAGES:
        ok = bool(compileall.compile_dir(str(ROOT / package), quiet=1, force=False)) and ok
    return ok


def child_environment() -> dict[str, str]:
    """The environment of the timed processes: the caller's, minus any setting that skips bytecode."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def batch_per_event_ms(loki: Path, events: int, repeats: int, scripts: list[Path]) -> list[float]:
    """Median ms per event of one `--batch` run of each script, the scripts taking turns."""
    lines = "".join(json.dumps({"type": "task", "source": "hook", "payload": {"action": "x", "n": i}}) + "\n"
                    for i in range(events))
    env = {**child_environment(), "LOKI_DIR": str(loki)}
    runs: list[list[float]] = [[] for _ in scripts]
    for _ in range(repeats):
        for script, times in zip(scripts, runs):
            started = time.perf_counter()
            subprocess.run(["bash", str(script), "--batch"], input=lines.encode(), env=env,
                           stdout=subprocess.DEVNULL, check=True, timeout=300)
            times.append((time.perf_counter() - started) * 1000 / events)
    return [statistics.median(times) for times in runs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--batch", type=int, default=1000, help="events in one --batch run")
    parser.add_argument("--bash-only", action="store_true", help="only the bash emitter and its baselines")
    parser.add_argument("--compare", type=Path, help="another lokilog-emit to time in the same rounds")
    options = parser.parse_args()
    load_before = round(os.getloadavg()[0], 2)  # other work on the machine inflates every figure
    compiled = compile_bytecode()
    base_env = child_environment()
    with scratch_dir("lokilog-bench-startup-") as tmp:
        loki = tmp / ".loki"
        from eventlog import FileEventLog, NewEvent

        with FileEventLog(loki) as log:  # a small log: 200 events
            log.append_many([NewEvent(type="task", source="runner", payload={"action": "x", "n": i})
                             for i in range(200)])
        plan = {name: (argv, {**base_env, **extra})
                for name, (argv, extra) in cases(loki, options.bash_only, options.compare).items()}
        for argv, env in plan.values():
            time_once(argv, env)  # warm the page cache and the bytecode caches
        samples: dict[str, list[float]] = {name: [] for name in plan}
        for _ in range(options.repeats):
            for name, (argv, env) in plan.items():
                samples[name].append(time_once(argv, env))
        medians = {name: round(statistics.median(v), 2) for name, v in samples.items()}
        scripts = [BASH_EMIT, *([options.compare] if options.compare else [])]
        batch, *batch_compared = batch_per_event_ms(tmp / "batch" / ".loki", options.batch,
                                                    max(3, options.repeats // 5), scripts)
    floor = medians["bash_floor"]
    report = {"repeats": options.repeats,
              "bytecode": {"compiled_before_timing": compiled, "packages": list(PACKAGES),
                           "child_env_without_PYTHONDONTWRITEBYTECODE": True},
              "load_average_1min": {"before": load_before, "after": round(os.getloadavg()[0], 2)},
              "median_ms": medians}
    if not options.bash_only:
        bare = medians["bare_interpreter"]
        report.update({
            "python_vs_bare_interpreter": {
                name: {"ratio": round(medians[name] / bare, 2), "target": target, "met": medians[name] / bare <= target}
                for name, target in TARGETS.items()},
            "lokilog_emit_vs_bash_flock_append": round(medians["emit"] / medians["bash_flock_append"], 2),
            "typer_import_vs_bare_interpreter": round(medians["import_typer"] / bare, 2),
        })
    report["bash_emit_vs_floor"] = {"ratio": round(medians["bash_emit"] / floor, 2), "target": 2.0,
                                    "met": medians["bash_emit"] / floor <= 2.0}
    report["bash_batch_ms_per_event"] = {"events": options.batch, "median": round(batch, 4), "target": 0.2,
                                         "met": batch <= 0.2}
    if options.compare:
        report["compared"] = {"script": str(options.compare),
                              "bash_emit_vs_floor": round(medians["bash_emit_compared"] / floor, 2),
                              "bash_batch_ms_per_event": round(batch_compared[0], 4)}
    emit(report)


if __name__ == "__main__":
    main()
