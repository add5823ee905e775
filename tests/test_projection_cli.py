"""`lokilog status`, `state`, `rebuild` and `demo` through the CLI."""
from __future__ import annotations

import json

from commands.demo import simulated_run
from eventlog import FileEventLog, LogSettings


def _demo_log(loki):
    with FileEventLog(loki, settings=LogSettings()) as log:
        log.append_many(simulated_run())


def test_status_table_and_json(loki, cli):
    _demo_log(loki)
    text = cli("status")
    assert text.exit_code == 0
    assert "session  session-demo  failed  phase ACT" in text.output
    assert "failed     task-003" in text.output
    data = json.loads(cli("status", "--json").output)
    assert data["task_counts"]["completed"] == 2 and data["seq"] == 25
    assert json.loads((loki / "state" / "run" / "summary.json").read_text()) == data


def test_state_time_travel_and_diff(loki, cli):
    _demo_log(loki)
    at = json.loads(cli("state", "run-state", "--at-seq", "4").output)
    assert at["seq"] == 4 and list(at["state"]["tasks"]) == ["task-001"]
    by_time = json.loads(cli("state", "run-state", "--at", "2026-02-21T10:00:28.000Z").output)
    assert by_time["seq"] == 4
    diff = json.loads(cli("state", "run-state", "--diff", "20", "21").output)
    changes = {c["path"]: (c["before"], c["after"]) for c in diff["changes"]}
    assert changes["tasks.task-003.status"] == ("in_progress", "failed")


def test_bad_input_exits_2(loki, cli):
    _demo_log(loki)
    assert cli("state", "nope").exit_code == 2
    assert cli("state", "run-state", "--at", "yesterday-ish").exit_code == 2
    assert cli("state", "run-state", "--at-seq", "3", "--at", "2026-02-21T10:00:28Z").exit_code == 2
    assert cli("rebuild", "nope").exit_code == 2


def test_rebuild_json_is_quiet(loki, cli):
    _demo_log(loki)
    result = cli("rebuild", "--json")
    assert result.exit_code == 0
    rebuilt = {row["name"]: row for row in json.loads(result.output)["rebuilt"]}
    assert rebuilt["run-state"] == {"name": "run-state", "seq": 25, "dead_letters": 0, "stopped": None}


def test_demo_shows_the_run_state(tmp_path, cli):
    result = cli("demo", str(tmp_path / "demo"))
    assert result.exit_code == 0
    assert "== Run state (lokilog status) ==" in result.output
    assert "completed  task-001, task-002" in result.output
