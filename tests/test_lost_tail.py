"""A log cut exactly on a line boundary parses fine: the durable high-water mark still catches it."""
import json

import pytest

from eventlog import FileEventLog
from eventlog.store import LogTruncatedError
from eventlog.verify import verify_log


def _cut_last_lines(root, keep):
    segment = root / "events" / "log" / "00000000000000000001.jsonl"
    lines = segment.read_bytes().splitlines(keepends=True)
    segment.write_bytes(b"".join(lines[:keep]))


def test_verify_reports_a_log_shorter_than_its_index_saw(loki, cli):
    with FileEventLog(loki) as log:
        for i in range(10):
            log.append("task", "runner", {"i": i}, id=f"e{i}")  # ids keep the index current
    _cut_last_lines(loki, 7)
    report = verify_log(log.paths)
    assert [f.kind for f in report.findings] == ["log_shorter_than_seen"]
    assert "ends at seq 7 but seq 10 was seen" in report.findings[0].message
    result = cli("verify", "--json")
    assert result.exit_code == 1
    assert json.loads(result.output)["findings"][0]["kind"] == "log_shorter_than_seen"


def test_a_cursor_ahead_of_the_log_is_also_evidence(loki):
    with FileEventLog(loki) as log:
        log.append("a", "b")
    (loki / "events" / "cursors").mkdir(parents=True)
    (loki / "events" / "cursors" / "audit.json").write_text('{"seq": 5}')
    assert verify_log(log.paths).high_water_mark == 5
    assert not verify_log(log.paths).ok


def test_appends_that_need_the_index_refuse_until_the_loss_is_accepted(loki, cli):
    with FileEventLog(loki) as log:
        for i in range(5):
            log.append("task", "runner", {"i": i}, id=f"e{i}")
    _cut_last_lines(loki, 3)
    with FileEventLog(loki) as log:
        with pytest.raises(LogTruncatedError, match="ends at seq 3 but seq 5 was stored"):
            log.append("task", "runner", id="new")
    result = cli("emit", "task", "--id", "new")
    assert result.exit_code == 1 and "lokilog verify --fix" in result.output
    fixed = cli("verify", "--fix")
    assert fixed.exit_code == 0, fixed.output
    assert "accepted the loss" in fixed.output
    with FileEventLog(loki) as log:
        # e3 and e4 were lost: their ids are free again, and seqs continue densely.
        assert log.append("task", "runner", {"i": 3}, id="e3").seq == 4


def test_plain_appends_from_a_fresh_process_refuse_too_and_cursors_rewind_on_acceptance(loki, cli):
    with FileEventLog(loki) as log:
        for i in range(4):
            log.append("task", "runner", {"i": i})
    cursors = loki / "events" / "cursors"
    cursors.mkdir(parents=True)
    (cursors / "exporter.json").write_text('{"seq": 4, "id": "x"}')
    _cut_last_lines(loki, 2)
    result = cli("emit", "task")
    assert result.exit_code == 1 and "ends at seq 2 but seq 4" in result.output
    assert cli("verify", "--fix").exit_code == 0
    assert json.loads((cursors / "exporter.json").read_text())["seq"] == 2
    assert cli("emit", "task").output.startswith("seq 3 ")
