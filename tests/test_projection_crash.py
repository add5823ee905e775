"""Kill -9 at random moments while snapshots and views are written: after a restart the views
(and the snapshot) are byte-identical to a clean rebuild.

CI runs LOKILOG_CRASH_TRIALS (default 20) trials; scripts/crash-projections runs hundreds.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from commands.demo import simulated_run
from conftest import read_line, subprocess_env
from eventlog import FileEventLog, LogSettings
from projections.engine import catch_up, rebuild
from projections.run_state import RunStateProjection
from projection_helpers import rollback, views

CHILD = Path(__file__).with_name("crash_child.py")


def _log_with_rollbacks(loki: Path) -> None:
    with FileEventLog(loki, settings=LogSettings(durability="never")) as log:
        for round_ in range(12):
            log.append_many(simulated_run())
            log.append_many([rollback(log.head_seq - 10, f"cp-{round_}")])


def test_kill_9_during_snapshot_and_view_writing(loki, tmp_path, rng):
    _log_with_rollbacks(loki)
    reference = tmp_path / "reference" / ".loki"
    shutil.copytree(loki, reference)
    rebuild(reference, [RunStateProjection()])
    expected = views(reference, "state", "projections/run-state")
    trials = int(os.environ.get("LOKILOG_CRASH_TRIALS", "20"))
    torn = 0  # trials whose kill left a half-written temp file behind: killed mid-write
    for trial in range(trials):
        child = subprocess.Popen([sys.executable, str(CHILD), str(loki), str(trial)],
                                 env=subprocess_env(), stdout=subprocess.PIPE, text=True)
        try:
            assert read_line(child.stdout) == "ready\n"
            time.sleep(rng.uniform(0, 0.15))  # the kill point is what is being randomised
            child.kill()
            child.wait(timeout=10)
        finally:
            child.stdout.close()
        torn += any(p.name.endswith(".tmp") for p in loki.rglob("*.tmp"))
        result = catch_up(loki, RunStateProjection())
        assert result.notices == (), result.notices
        got = views(loki, "state", "projections/run-state")
        got.pop("projections/run-state/lock", None)
        assert got == {k: v for k, v in expected.items() if not k.endswith("/lock")}, f"trial {trial}"
    print(f"\n{trials} kill -9 trials, {torn} of them left a temp file (killed while writing)")
