"""Kill -9 inside large batch writes: `append_many` is all or nothing.

Two writers append batches of 2000 events of about 1 KB each (2 MB, hundreds of pages, per
write) and are SIGKILLed at random moments, so many kills land inside the write itself and
leave a batch partly on disk. After recovery each batch must be stored whole or not at all
(a batch written whole but not acknowledged may stay: its ids make a retry idempotent), every
acknowledged event exactly once, seqs dense, and verify clean.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from scripts.torture.common import HANG_SECONDS, Result, acked_ids, child_env, python_writer, score, scratch

BATCH = 2000
PAD = 1000


def _start(root: Path, work: Path, tag: str):
    out = work / f"{tag}.out"
    with open(out, "wb") as handle:
        proc = subprocess.Popen(python_writer(root, tag, 0, "--batch", str(BATCH), "--payload-bytes", str(PAD)),
                                stdout=handle, stderr=subprocess.DEVNULL, start_new_session=True,
                                # Segments of 3 MB: many batches start by rotating, so kills land
                                # in the first write to a brand-new segment too.
                                env={**child_env(), "LOKI_EVENTS_SEGMENT_BYTES": str(3 * 1024 * 1024)})
    return proc, out


def run(trials: int = 6, seed: int = 0) -> Result:
    """Kill ``trials`` batch writers at random moments; check every batch is whole or absent."""
    rng = random.Random(seed)
    result = Result("kill -9 inside 2 MB batch writes")
    with scratch() as work:
        root = work / ".loki"
        outputs = []
        running = [_start(root, work, f"w{i}") for i in range(2)]
        try:
            for trial in range(trials):
                victim = rng.randrange(len(running))
                time.sleep(rng.uniform(0.05, 0.4))
                proc, out = running[victim]
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=HANG_SECONDS)
                outputs.append(out)
                running[victim] = _start(root, work, f"k{trial}")
                result.trials += 1
        finally:
            for proc, out in running:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=HANG_SECONDS)
                outputs.append(out)
        acked = [i for out in outputs for i in acked_ids(out.read_bytes())]
        score(result, root, acked)
        _check_batches(root, result)
    return result


def _check_batches(root: Path, result: Result) -> None:
    from eventlog import FileEventLog

    sizes: Counter = Counter()
    with FileEventLog(root) as log:
        for event in log.read(ingest=False):
            sizes[(event.source, event.payload["n"] // BATCH)] += 1
    partial = {key: n for key, n in sizes.items() if n != BATCH}
    for (source, batch), n in sorted(partial.items()):
        result.fail(f"batch {batch} of {source} is stored in part: {n} of {BATCH} events")


if __name__ == "__main__":
    from scripts.torture.run import main_for
    sys.exit(main_for("batch_kill"))
