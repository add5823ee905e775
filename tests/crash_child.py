"""Child process for the kill -9 tests: writes snapshots and views as fast as it can, forever.

It resumes the run-state projection from whatever the last (killed) child left, folds a few
events at a time, forces a snapshot and the views after each step, and starts over from seq 1
when it reaches the head (forgetting its files), so every moment is a moment of writing.
"""
from __future__ import annotations

import random
import sys
from pathlib import Path

from projections.engine import Runner
from projections.run_state import RunStateProjection
from projections.engine.snapshots import ProjectionFiles


def main(loki: Path, seed: int) -> None:
    rng = random.Random(seed)
    print("ready", flush=True)
    while True:
        with Runner(loki, RunStateProjection(), snapshot_every=1, snapshot_seconds=0) as runner:
            head = runner._log.head_seq
            while runner.outcome.seq < head:
                runner.advance(min(head, runner.outcome.seq + rng.randint(1, 40)))
                runner.save(force=True, views=True)
        # Forget snapshot and high-water mark, or the next pass would find newer views on
        # disk and (rightly) leave them alone instead of writing.
        ProjectionFiles(loki, "run-state").remove()


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
