"""Stalled lock holder: a writer is frozen with SIGSTOP while it holds the log lock.

Each trial starts writers with a short lock bound, freezes one of them at a random moment
until it is seen holding the lock (another process cannot take it), keeps it frozen, and
lets the others append: none may wait past the bound (they fall back to the drop box), and
once the frozen writer resumes and finishes nothing may be lost or stored twice.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from scripts.torture.common import HANG_SECONDS, Result, acked_ids, child_env, python_writer, score, scratch

LOCK_BOUND = 0.3
#: The longest an append may take while the lock holder is frozen: the bound plus a drop.
STALL_LIMIT = LOCK_BOUND + 1.5
FROZEN_FOR = 1.5


def _holds_lock(pid: int, lock_file: Path) -> bool:
    """Whether process ``pid`` holds the flock on ``lock_file`` (read from /proc/locks)."""
    try:
        inode = os.stat(lock_file).st_ino
    except FileNotFoundError:
        return False
    with open("/proc/locks") as locks:
        for line in locks:
            parts = line.split()
            # "1: FLOCK  ADVISORY  WRITE 4242 fd:01:1234 0 EOF"; waiters are marked "->".
            if len(parts) >= 6 and parts[1] == "FLOCK" and parts[4] == str(pid):
                if parts[5].rsplit(":", 1)[-1] == str(inode):
                    return True
    return False


def _freeze_holding_lock(proc: subprocess.Popen, lock_file: Path, rng: random.Random) -> bool:
    """SIGSTOP ``proc`` at random moments until it is frozen holding the lock."""
    deadline = time.monotonic() + HANG_SECONDS
    while time.monotonic() < deadline:
        time.sleep(rng.uniform(0, 0.01))
        os.kill(proc.pid, signal.SIGSTOP)
        if _holds_lock(proc.pid, lock_file):
            return True
        os.kill(proc.pid, signal.SIGCONT)
    return False


def other_writers(root: Path) -> list[list[str]]:
    """The bash emitter (bounded `flock -w`) and the TypeScript client, where they run."""
    from scripts.torture.kill9 import EXTRA_KINDS, Slot

    return [build(root, Slot(kind, f"s-{kind}")) for kind, build in EXTRA_KINDS.items()]


def _trial(work: Path, number: int, rng: random.Random, result: Result) -> list[str]:
    root = work / f"t{number}" / ".loki"
    env = dict(LOKI_EVENTS_LOCK_TIMEOUT=str(LOCK_BOUND))
    commands = [python_writer(root, f"s{i}", 0, "--payload-bytes", "64") for i in range(3)] + other_writers(root)
    outs = [work / f"t{number}.{i}.out" for i in range(len(commands))]
    procs = []
    for argv, out in zip(commands, outs):
        with open(out, "wb") as handle:
            procs.append(subprocess.Popen(argv, stdout=handle, stderr=subprocess.DEVNULL, env=child_env(**env)))
    victim = procs[0]
    try:
        time.sleep(0.3)  # let every writer get going
        if not _freeze_holding_lock(victim, root / "events" / "log.lock", rng):
            result.fail(f"trial {number}: never caught the writer holding the lock")
        time.sleep(FROZEN_FOR)
        os.kill(victim.pid, signal.SIGCONT)
        _check_others_progressed(outs[1:], result, number)
        time.sleep(0.2)
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(timeout=HANG_SECONDS)
    acked = []
    for position, out in enumerate(outs):
        text = out.read_text(errors="replace")
        acked += acked_ids(text)
        for line in text.splitlines():
            parts = line.split()
            # The frozen writer's own append took as long as it was frozen: others are measured.
            if parts[:1] == ["ACK"] and len(parts) == 4 and position:
                result.stall(float(parts[3]))
            elif parts[:1] == ["ERR"]:
                result.fail(f"trial {number}: {line}")
    score(result, root, acked)
    return acked


def _check_others_progressed(outs: list[Path], result: Result, number: int) -> None:
    pending = sum(out.read_text(errors="replace").count(" pending ") for out in outs)
    if pending == 0:
        result.fail(f"trial {number}: no writer fell back to the drop box while the holder was frozen")


def run(trials: int = 3, seed: int = 0) -> Result:
    """Freeze a lock holder ``trials`` times; return the table row."""
    rng = random.Random(seed)
    result = Result("SIGSTOP lock holder")
    with scratch() as work:
        for number in range(trials):
            _trial(work, number, rng, result)
            result.trials += 1
    if result.max_stall > STALL_LIMIT:
        result.fail(f"an append waited {result.max_stall:.2f}s with the holder frozen (bound {STALL_LIMIT}s)")
    return result


if __name__ == "__main__":
    from scripts.torture.run import main_for
    sys.exit(main_for("sigstop"))
