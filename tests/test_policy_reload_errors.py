"""A broken policy edit keeps the last good policy and is visible: an event in the log, a doctor finding."""
from __future__ import annotations

import os

from commands.policy.gate import PolicyGate
from commands.policy_cli import DEMO_POLICY
from eventlog import FileEventLog

from conftest import run_lokilog


def _load_failures(loki) -> list[dict]:
    with FileEventLog(loki) as log:
        return [e.payload for e in log.read() if e.type == "policy" and e.payload.get("action") == "load_failed"]


def _break(path) -> None:
    path.write_text("policies:\n  pre_execution: [unclosed\n")
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # a coarse clock must still see it


def test_a_broken_edit_is_recorded_once_and_the_last_good_policy_stays(loki):
    loki.mkdir(parents=True)
    policy = loki / "policies.yaml"
    policy.write_text(DEMO_POLICY)
    with PolicyGate(loki) as gate:
        good = gate.store.state.policy
        assert good is not None and _load_failures(loki) == []
        _break(policy)
        assert gate.store.reload()
        assert gate.store.state.policy is good  # still in force
        assert not gate.store.reload()  # nothing changed: nothing recorded again
    for _ in range(2):
        with PolicyGate(loki):
            pass  # a new run never loaded a good policy (it fails closed): recorded once, not per run
    kept, closed = _load_failures(loki)
    assert "policies.yaml" in kept["error"] and "last good policy" in kept["error"]
    assert kept["kept"]["digest"] == good.digest
    assert closed["kept"] is None and "policies.yaml" in closed["error"]


def test_doctor_reports_a_policy_file_that_does_not_load(loki):
    loki.mkdir(parents=True)
    (loki / "policies.yaml").write_text(DEMO_POLICY)
    assert "[ok] policy" in run_lokilog("doctor", loki=loki, timeout=30).stdout
    _break(loki / "policies.yaml")
    done = run_lokilog("doctor", loki=loki, timeout=30)
    assert done.returncode == 1
    assert "[problem] policy" in done.stdout and "does not load" in done.stdout
