"""kill -9 of the group-commit fsync leader, before its fsync or after it returned.

Each trial runs several durable writers at once (scripts/torture/group_writer.py); one of
them kills itself with SIGKILL on its k-th fsync as leader, either before the fsync or right
after it returned, before it published anything or woke anyone. Its followers must neither
hang nor be acknowledged without coverage: they find the leader's flock free and fsync
themselves. Checked: every survivor finishes; every acknowledgement (the dead writer's too)
follows an fsync that began after the event was written (the timeline oracle of
scripts/torture/group_commit.py); after recovery every acknowledged event is in the log
exactly once, seqs are dense and the log verifies.
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

from scripts.torture.common import HANG_SECONDS, Result, child_env, scratch, score
from scripts.torture.group_commit import check_coverage, line_ends, read_timelines

WRITERS = 4
APPENDS = 30


def run_trial(work: Path, trial: int, seed: int, result: Result, rng: random.Random) -> None:
    root = work / f"t{trial}" / ".loki"
    writer = str(Path(__file__).with_name("group_writer.py"))
    timelines = [work / f"t{trial}-{w}.timeline" for w in range(WRITERS)]
    when = rng.choice(("before", "after"))
    argv = [[sys.executable, writer, str(root), str(path), str(APPENDS), str(seed * 100 + w)]
            for w, path in enumerate(timelines)]
    argv[0] += [str(rng.randint(1, 3)), when]
    started = time.monotonic()
    children = [subprocess.Popen(a, env=child_env(), stderr=subprocess.PIPE) for a in argv]
    for number, child in enumerate(children):
        try:
            _, err = child.communicate(timeout=HANG_SECONDS * 6)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            result.fail(f"trial {trial}: writer {number} hung")
            continue
        if number and child.returncode:
            result.fail(f"trial {trial}: writer {number} failed: {err.decode(errors='replace')[-300:]}")
        if number == 0 and child.returncode == -signal.SIGKILL:
            result.kills = getattr(result, "kills", 0) + 1
        if number == 0 and child.returncode not in (0, -signal.SIGKILL):
            result.fail(f"trial {trial}: the leader failed before its kill: {err.decode(errors='replace')[-300:]}")
    result.stall(max(0.0, time.monotonic() - started - HANG_SECONDS))  # the whole trial, beyond the budget
    segment = root / "events" / "log" / "00000000000000000001.jsonl"
    data = segment.read_bytes()
    line = read_timelines(timelines, os.stat(segment).st_ino)
    check_coverage(line, line_ends(_complete(data)), result)
    score(result, root, [i for _, i in line.acks])
    result.trials += 1


def _complete(data: bytes) -> bytes:
    # The killed leader's bytes were complete lines (it died in fsync, not in write), but a
    # later holder may not have cut or extended anything yet: read whole lines only.
    return data[: data.rfind(b"\n") + 1]


def run(trials: int = 2, seed: int = 0) -> Result:
    result = Result("group commit: kill -9 of the fsync leader")
    rng = random.Random(seed)
    with scratch() as work:
        for trial in range(trials):
            run_trial(work, trial, seed, result, rng)
    if trials and not getattr(result, "kills", 0):
        result.fail("no trial killed its leader: the scenario tested nothing")
    return result


if __name__ == "__main__":
    from scripts.torture.run import main_for
    sys.exit(main_for("leader_kill"))
