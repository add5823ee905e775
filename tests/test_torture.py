"""The torture suite's short run: every scenario, with real kill -9, strace and subprocesses.

`scripts/torture/run --full` is the long run (docs/TORTURE.md); this keeps each scenario
honest in every test run, in well under a minute.
"""
import shutil

import pytest

from scripts.torture.run import SCENARIOS, run_one, table

SHORT = {name: short for name, (short, _full) in SCENARIOS.items()}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario_loses_nothing_duplicates_nothing_and_never_hangs(name):
    if name == "syscall_faults" and shutil.which("strace") is None:
        pytest.skip("strace is not installed (scripts/test installs it)")
    result = run_one(name, SHORT[name], seed=7)
    row = result.to_dict()
    assert result.ok, table([row]) + "\n" + "\n".join(row["failures"])
    assert result.trials >= SHORT[name]
    if name in ("kill9", "sigstop", "clock_skew", "syscall_faults", "power_loss"):
        assert result.acknowledged > 0


def test_the_runner_fails_on_a_loss(capsys, monkeypatch):
    from scripts.torture import run as runner
    from scripts.torture.common import Result

    monkeypatch.setattr(runner, "run_one", lambda name, trials, seed: Result(name, trials=1, acknowledged=3, lost=1))
    assert runner.main(["bitflips"]) == 1
    assert "lost" in capsys.readouterr().out
