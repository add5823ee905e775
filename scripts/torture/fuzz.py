"""Hostile input: hypothesis (and atheris, when installed) against every parser.

For each parser in fuzz_targets.py, ``trials`` inputs drawn from random bytes, random text
and mutations of a valid input: every one must be accepted or rejected with an EventLogError
(no crash), each within a second (no hang). With atheris importable, each target also gets a
short coverage-guided run in a subprocess.
"""
from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from hypothesis import HealthCheck, given, settings, strategies as st

from scripts.torture.common import Result, child_env
from scripts.torture.fuzz_targets import SEEDS, TARGETS, call

SLOW_INPUT = 1.0


def _mutated(seed: bytes) -> st.SearchStrategy[bytes]:
    """A valid input with a few bytes replaced, inserted or removed."""
    edit = st.tuples(st.integers(0, len(seed)), st.integers(0, 8), st.binary(max_size=8))

    def apply(edits):
        data = bytearray(seed)
        for at, cut, new in edits:
            at = min(at, len(data))
            data[at:at + cut] = new
        return bytes(data)

    return st.lists(edit, min_size=1, max_size=4).map(apply)


def inputs(name: str) -> st.SearchStrategy[bytes]:
    seeds = SEEDS.get(name, [b""])
    return st.one_of(
        st.binary(max_size=300),
        st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass")),
        *(_mutated(s) for s in seeds),
    )


def hypothesis_campaign(name: str, examples: int, seed: int, result: Result) -> None:
    crashes: list[str] = []

    @settings(max_examples=examples, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(inputs(name))
    def campaign(data: bytes) -> None:
        started = time.monotonic()
        crash = call(name, data)
        took = time.monotonic() - started
        result.stall(took)
        if crash and len(crashes) < 3:
            crashes.append(f"{name}: {data[:80]!r} -> {crash}")
        if took > SLOW_INPUT and len(crashes) < 3:
            crashes.append(f"{name}: {data[:80]!r} took {took:.2f}s")

    campaign._hypothesis_internal_use_seed = seed  # reproducible runs of the same seed
    campaign()
    result.trials += examples
    for crash in crashes:
        result.fail(crash)


def atheris_campaign(name: str, runs: int, result: Result) -> None:
    script = Path(__file__).with_name("fuzz_atheris.py")
    with tempfile.TemporaryDirectory(prefix="lokilog-fuzz-") as scratch:
        done = subprocess.run([sys.executable, str(script), name, f"-runs={runs}", "-max_len=512"],
                              capture_output=True, text=True, env=child_env(LOKILOG_FUZZ_SCRATCH=scratch), timeout=300)
    result.trials += runs
    if done.returncode:
        tail = [line for line in done.stderr.splitlines() if line.strip()][-4:]
        result.fail(f"atheris, {name}: {' | '.join(tail)}")


def run(trials: int = 150, seed: int = 0) -> Result:
    """Fuzz every parser with ``trials`` hypothesis examples (and atheris runs if available)."""
    result = Result("hostile input (fuzz)")
    with_atheris = importlib.util.find_spec("atheris") is not None
    for name in TARGETS:
        hypothesis_campaign(name, trials, seed, result)
        if with_atheris:
            atheris_campaign(name, trials * 4, result)
    if result.max_stall > SLOW_INPUT:
        result.fail(f"an input took {result.max_stall:.2f}s to parse")
    result.max_stall = result.max_stall
    return result


if __name__ == "__main__":
    from scripts.torture.run import main_for
    sys.exit(main_for("fuzz"))
