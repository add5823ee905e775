"""The NATS kill loop, short: kill -9 of bridges, server and view, and a paused server; 0 lost, 0 duplicated.

`python scripts/torture/nats_kill.py --trials 200` is the long run.
"""
import pytest

pytest.importorskip("nats")

from scripts.torture.nats_kill import ACTIONS, run  # noqa: E402
from scripts.torture.run import table  # noqa: E402


def test_kill_loop_loses_nothing_duplicates_nothing():
    result = run(trials=8, seed=7)
    row = result.to_dict()
    assert result.ok, table([row]) + "\n" + "\n".join(row["failures"])
    assert result.trials == 8 and result.acknowledged > 1000
    assert set(result.actions) == set(ACTIONS)
