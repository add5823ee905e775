"""Regression found by the torture suite's bit flips: a damaged snapshot is rebuilt, not trusted."""
from eventlog import FileEventLog
from projections.engine import catch_up
from projections.registry import all_projections


def _run_state():
    return next(p for p in all_projections() if p.name == "run-state")


def test_a_bit_flipped_in_a_snapshot_state_is_noticed_and_rebuilt(loki):
    with FileEventLog(loki) as log:
        for i in range(5):
            log.append("task", "runner", {"action": "claim", "task_id": f"task-{i}"})
    clean = catch_up(loki, _run_state()).state
    snapshot = loki / "projections" / "run-state" / "snapshot.json"
    data = snapshot.read_bytes()
    # One flipped bit ('3' is 0x33, '2' is 0x32) that leaves valid JSON and a plausible state.
    snapshot.write_bytes(data.replace(b'"updated_seq":3', b'"updated_seq":2', 1))
    result = catch_up(loki, _run_state())
    assert result.state == clean
    assert "damaged at rest" in result.notices[0]


def test_a_snapshot_that_is_no_longer_utf8_is_rebuilt(loki):
    with FileEventLog(loki) as log:
        log.append("task", "runner", {"action": "claim", "task_id": "task-0"})
    clean = catch_up(loki, _run_state()).state
    snapshot = loki / "projections" / "run-state" / "snapshot.json"
    snapshot.write_bytes(snapshot.read_bytes().replace(b'"task-0"', b'"task\xb0-0"', 1))
    assert catch_up(loki, _run_state()).state == clean
