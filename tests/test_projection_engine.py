"""The projection engine: snapshots, resume, schema changes, distrust, poison, rollback, time travel."""
from __future__ import annotations

import shutil

import msgspec
import pytest

from commands.demo import simulated_run
from eventlog import FileEventLog, InvalidEventError, LogSettings, LokiPaths
from eventlog.verify import verify_log
from projections.engine import Runner, catch_up, health, rebuild, state_at
from projections.run_state import RunStateProjection
from projections.engine.snapshots import ProjectionFiles, encode_state

from projection_helpers import Counter, RewindingCounter, StoppingCounter, rollback, task, views


def _fill(loki, drafts):
    with FileEventLog(loki, settings=LogSettings()) as log:
        return log.append_many(drafts)


def test_catch_up_writes_snapshot_views_and_high_water_mark(loki):
    _fill(loki, simulated_run())
    result = catch_up(loki, RunStateProjection())
    assert result.seq == 25 and result.notices == ()
    files = ProjectionFiles(loki, "run-state")
    assert msgspec.json.decode(files.snapshot.read_bytes())["seq"] == 25
    assert files.read_position().seq == 25
    run = msgspec.json.decode((loki / "state" / "run" / "summary.json").read_bytes())
    assert run["task_counts"] == {"pending": 0, "in_progress": 0, "completed": 2, "failed": 1}
    assert run["session"]["status"] == "failed" and run["phase"] == "ACT"


def test_resume_folds_only_what_follows_the_snapshot(loki):
    _fill(loki, simulated_run())
    catch_up(loki, RunStateProjection())
    _fill(loki, [task("created", "t-late")])
    with Runner(loki, RunStateProjection()) as runner:
        assert runner.outcome.seq == 25  # resumed from the snapshot
        runner.catch_up()
        assert runner.outcome.events == 1 and runner.outcome.seq == 26
    fresh = rebuild(loki, [RunStateProjection()])[0]
    assert fresh.seq == 26


def test_schema_version_change_rebuilds_by_itself(loki):
    _fill(loki, [task("created", "t1")])
    catch_up(loki, Counter())
    files = ProjectionFiles(loki, "counter")
    # A state the new version could never have produced: proof that it is thrown away.
    snapshot = msgspec.json.decode(files.snapshot.read_bytes())
    snapshot["state"] = {"task": 99}
    files.snapshot.write_bytes(msgspec.json.encode(snapshot))

    class CounterV2(Counter):
        version = 2

    result = catch_up(loki, CounterV2())
    assert result.state == {"task": 1}
    assert "schema version changed from 1 to 2" in result.notices[0]


def test_snapshot_ahead_of_the_log_is_reported_and_rebuilt(loki, tmp_path):
    _fill(loki, [task("created", f"t{i}") for i in range(10)])
    catch_up(loki, Counter())
    # The log loses its tail: a copy of the directory whose segment keeps its first 6 lines.
    short = tmp_path / "short" / ".loki"
    shutil.copytree(loki, short)
    (short / "events" / "index.sqlite").unlink(missing_ok=True)
    segment = sorted((short / "events" / "log").iterdir())[0]
    segment.chmod(0o644)
    segment.write_bytes(b"".join(segment.read_bytes().splitlines(keepends=True)[:6]))
    report = verify_log(LokiPaths(short))
    assert any(f.kind == "log_shorter_than_seen" for f in report.findings)  # visible to verify
    result = catch_up(short, Counter())
    assert result.state == {"task": 6} and result.seq == 6
    assert "is at seq 10 but the log ends at seq 6" in result.notices[0]
    assert ProjectionFiles(short, "counter").read_position().seq == 6


def test_rewritten_log_is_noticed_by_event_id(loki, tmp_path):
    _fill(loki, [task("created", f"t{i}") for i in range(5)])
    catch_up(loki, Counter())
    other = tmp_path / "other" / ".loki"
    _fill(other, [{"type": "agent", "source": "x", "payload": {}} for _ in range(7)])
    shutil.copytree(loki / "projections", other / "projections")
    result = catch_up(other, Counter())
    assert result.state == {"agent": 7}
    assert "the log was rewritten" in result.notices[0]


def test_poison_events_go_to_the_dead_letter_list(loki):
    _fill(loki, [task("created", "t1"), {"type": "x", "source": "s", "payload": {"poison": True}}, task("created", "t2")])
    result = catch_up(loki, Counter())
    assert result.seq == 3 and result.state == {"task": 2} and result.dead_letters == 1
    (report,) = health(loki, [Counter()])
    assert report["dead_letter_count"] == 1 and report["dead_letters"][0]["seq"] == 2
    assert "ValueError: poisoned" in report["dead_letters"][0]["error"]
    assert report["lag"] == 0 and report["stopped"] is None


def test_stop_policy_holds_the_position_until_fixed(loki):
    _fill(loki, [task("created", "t1"), {"type": "x", "source": "s", "payload": {"poison": True}}, task("created", "t2")])
    result = catch_up(loki, StoppingCounter())
    assert result.seq == 1 and result.stopped.seq == 2 and result.state == {"task": 1}
    assert catch_up(loki, StoppingCounter()).seq == 1  # still stopped: retried, failed again
    (report,) = health(loki, [StoppingCounter()])
    assert report["stopped"]["seq"] == 2 and report["lag"] == 2

    class Fixed(StoppingCounter):
        def apply(self, state, event):
            state[event.type] = state.get(event.type, 0) + 1
            return state

    fixed = catch_up(loki, Fixed())
    assert fixed.seq == 3 and fixed.stopped is None and fixed.state == {"task": 2, "x": 1}


def test_rollback_rewinds_run_state_but_not_ledgers(loki):
    _fill(loki, [task("created", "t1"), task("started", "t1"), task("created", "t2"),
                 task("completed", "t1"), rollback(2), task("created", "t3")])
    run = catch_up(loki, RunStateProjection()).state
    assert sorted(run.tasks) == ["t1", "t3"]  # t2 came after seq 2: gone
    assert run.tasks["t1"].status == "in_progress"
    assert run.last_rollback.to_seq == 2 and run.last_rollback.seq == 5
    assert catch_up(loki, Counter()).state == {"task": 5, "checkpoint": 1}


def test_nested_rollbacks_resume_from_snapshot_equal_full_fold(loki):
    _fill(loki, [task("created", "a"), task("created", "b")])
    catch_up(loki, RewindingCounter())  # snapshot at seq 2
    _fill(loki, [task("created", "c"), rollback(1), task("created", "d"), rollback(4), task("created", "e")])
    incremental = catch_up(loki, RewindingCounter())
    full = rebuild(loki, [RewindingCounter()])[0]
    # rollback(4) restores seq 4 (itself after rollback(1): {task: 1, checkpoint: 1}).
    assert incremental.state == full.state == {"task": 2, "checkpoint": 2}


def test_bad_rollback_event_is_poison_for_rewindable_projections(loki):
    _fill(loki, [task("created", "a"), rollback(5)])
    result = catch_up(loki, RewindingCounter())
    assert result.dead_letters == 1 and result.state == {"task": 1}


def test_state_at_seq_and_timestamp_before_the_snapshot(loki):
    _fill(loki, simulated_run())
    catch_up(loki, RunStateProjection())
    early = state_at(loki, RunStateProjection(), seq=4)
    assert early.seq == 4 and list(early.state.tasks) == ["task-001"]
    by_time = state_at(loki, RunStateProjection(), timestamp="2026-02-21T10:00:28Z")
    assert by_time.seq == 4
    assert state_at(loki, RunStateProjection(), timestamp="2020-01-01T00:00:00Z").seq == 0
    with pytest.raises(InvalidEventError, match="not both"):
        state_at(loki, RunStateProjection(), seq=1, timestamp="2026-02-21T10:00:28Z")


def test_rebuild_twice_is_byte_identical(loki):
    _fill(loki, simulated_run())
    rebuild(loki, [RunStateProjection()])
    first = views(loki, "state", "projections")
    rebuild(loki, [RunStateProjection()])
    assert views(loki, "state", "projections") == first


def test_views_torn_by_a_crash_are_rewritten_on_the_next_start(loki):
    _fill(loki, simulated_run())
    catch_up(loki, RunStateProjection())
    good = views(loki, "state")
    (loki / "state" / "run" / "summary.json").write_bytes(b'{"torn')
    catch_up(loki, RunStateProjection())
    assert views(loki, "state") == good


def test_snapshot_state_encoding_is_canonical():
    assert encode_state({"b": 1, "a": 2}) == b'{"a":2,"b":1}'


def test_runner_past_the_head_starts_over_loudly(loki):
    _fill(loki, [task("created", f"t{i}") for i in range(4)])
    with Runner(loki, Counter()) as runner:
        runner.catch_up()
        assert runner.check_head(4)
        assert not runner.check_head(2)
        assert runner.outcome.seq == 0 and "lost its tail" in runner.notices[-1]
        assert runner.catch_up().state == {"task": 4}


def test_projections_at_different_positions_catch_up_in_one_pass(loki):
    from projections.engine import RunnerGroup

    from projection_helpers import ReadsTasksCounter

    _fill(loki, [task("created", f"t{i}") for i in range(5)])
    catch_up(loki, Counter())  # at seq 5; ReadsTasksCounter has never run
    _fill(loki, [task("started", "t1"), {"type": "agent", "source": "x", "payload": {}}, task("created", "t9")])
    with FileEventLog(loki) as log:
        runners = [Runner(loki, Counter(), log=log), Runner(loki, ReadsTasksCounter(), log=log)]
        RunnerGroup(runners, log).advance()
        assert [r.outcome.seq for r in runners] == [8, 8]
        assert [r.outcome.events for r in runners] == [3, 8]  # each from its own seq
        assert runners[0].outcome.state == {"task": 7, "agent": 1}
        assert runners[1].outcome.state == {"task": 7}  # agent events never reach it
        for runner in runners:
            runner.close()


def test_a_version_bump_rebuilds_that_projection_only(loki):
    from projections.engine import RunnerGroup

    _fill(loki, [task("created", f"t{i}") for i in range(4)])
    for projection in (Counter(), RewindingCounter()):
        catch_up(loki, projection)

    class CounterV2(Counter):
        version = 2

    with FileEventLog(loki) as log:
        runners = [Runner(loki, CounterV2(), log=log), Runner(loki, RewindingCounter(), log=log)]
        assert [r.outcome.seq for r in runners] == [0, 4]
        _fill(loki, [task("created", "t5")])
        RunnerGroup(runners, log).advance()
        assert [r.outcome.events for r in runners] == [5, 1]
        assert runners[0].outcome.state == runners[1].outcome.state == {"task": 5}
        for runner in runners:
            runner.close()


def test_the_tasks_view_is_the_tasks_of_the_state(loki):
    from projections.run_state import tasks_view
    from projections.run_state_views import tasks_bytes

    _fill(loki, simulated_run())
    state = catch_up(loki, RunStateProjection()).state
    data = (loki / "state" / "run" / "tasks.json").read_bytes()
    assert data == tasks_bytes(state) and msgspec.json.decode(data) == msgspec.to_builtins(tasks_view(state))
