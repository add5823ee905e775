"""The pending drop box: any writer drops one file per event; lock holders ingest each exactly once."""
import json
import os

from eventlog import FileEventLog
from eventlog.pending import pending_file_name


def _drop(root, name, body):
    pending = root / "events" / "pending"
    pending.mkdir(parents=True, exist_ok=True)
    (pending / name).write_text(body if isinstance(body, str) else json.dumps(body, indent=2))


def _nested(event_id, ts="2026-02-21T10:00:00.000Z", **payload):
    return {"id": event_id, "type": "task", "source": "vscode", "timestamp": ts,
            "payload": {"action": "complete", **payload}, "version": "1.0"}


def test_drop_box_files_are_ingested_in_name_order_and_archived(loki):
    _drop(loki, pending_file_name("2026-02-21T10:00:02.000Z", "b"), _nested("b", "2026-02-21T10:00:02.000Z"))
    _drop(loki, pending_file_name("2026-02-21T10:00:01.000Z", "a"), _nested("a", "2026-02-21T10:00:01.000Z", task_id="t1"))
    with FileEventLog(loki) as log:
        report = log.ingest_pending()
        events = list(log.read())
    assert (report.ingested, report.duplicates, report.bad) == (2, 0, [])
    assert [(e.seq, e.id) for e in events] == [(1, "a"), (2, "b")]
    assert events[0].payload == {"action": "complete", "task_id": "t1"}
    assert sorted(os.listdir(loki / "events" / "archive")) == sorted(
        [pending_file_name("2026-02-21T10:00:01.000Z", "a"), pending_file_name("2026-02-21T10:00:02.000Z", "b")])


def test_a_file_seen_again_after_a_crash_before_archiving_is_not_doubled(loki):
    name = pending_file_name("2026-02-21T10:00:00.000Z", "x1")
    _drop(loki, name, _nested("x1"))
    with FileEventLog(loki) as log:
        log.ingest_pending()
    # Simulate the crash window: the event is in the log but the file is back in pending/.
    os.replace(loki / "events" / "archive" / name, loki / "events" / "pending" / name)
    with FileEventLog(loki) as log:
        report = log.ingest_pending()
        assert (report.ingested, report.duplicates) == (0, 1)
        assert log.head_seq == 1


def test_bad_files_are_reported_and_left_in_place(loki):
    _drop(loki, "2026-02-21T10-00-00.000Z_bad.json", "{not json")
    _drop(loki, "2026-02-21T10-00-01.000Z_shape.json", {"id": "s", "type": "task"})
    _drop(loki, "2026-02-21T10-00-02.000Z_tmp.json.tmp", "{partial")
    _drop(loki, pending_file_name("2026-02-21T10:00:03.000Z", "ok"), _nested("ok"))
    with FileEventLog(loki) as log:
        report = log.ingest_pending()
    reasons = {b.path.name: b.reason for b in report.bad}
    assert "not valid JSON" in reasons["2026-02-21T10-00-00.000Z_bad.json"]
    assert "missing field(s) timestamp" in reasons["2026-02-21T10-00-01.000Z_shape.json"]
    assert report.ingested == 1
    assert sorted(os.listdir(loki / "events" / "pending")) == [
        "2026-02-21T10-00-00.000Z_bad.json", "2026-02-21T10-00-01.000Z_shape.json", "2026-02-21T10-00-02.000Z_tmp.json.tmp"]


def test_a_reused_id_with_different_content_is_a_conflict_not_a_silent_drop(loki):
    with FileEventLog(loki) as log:
        log.append("task", "vscode", {"action": "complete"}, id="abcd1234")
    _drop(loki, pending_file_name("2026-02-21T10:00:00.000Z", "abcd1234"), _nested("abcd1234", task_id="other"))
    with FileEventLog(loki) as log:
        report = log.ingest_pending()
        assert log.head_seq == 1
    assert "already stored at seq 1 with different content" in report.bad[0].reason
    assert os.listdir(loki / "events" / "pending")


def test_readers_and_appenders_ingest_first(loki, cli):
    _drop(loki, pending_file_name("2026-02-21T10:00:00.000Z", "early"), _nested("early"))
    result = cli("tail", "--json")
    assert json.loads(result.output)["id"] == "early"
    _drop(loki, pending_file_name("2026-02-21T10:00:01.000Z", "second"), _nested("second"))
    with FileEventLog(loki) as log:
        assert log.append("task", "runner").seq == 3  # the dropped event took seq 2 first
        assert [e.id for e in log.read()][:2] == ["early", "second"]


def test_unknown_top_level_fields_in_a_dropped_file_are_kept(loki):
    body = _nested("keep")
    body["hook"] = {"name": "PostToolUse"}
    _drop(loki, pending_file_name(body["timestamp"], "keep"), body)
    with FileEventLog(loki) as log:
        log.ingest_pending()
        assert next(log.read()).extra == {"hook": {"name": "PostToolUse"}}


def test_a_move_to_archive_killed_between_link_and_unlink_is_finished(loki):
    name = pending_file_name("2026-02-21T10:04:25.265Z", "1e11e1da")  # a Loki Mode file, 32-bit id
    _drop(loki, name, _nested("1e11e1da", "2026-02-21T10:04:25.265Z", n=265))
    with FileEventLog(loki) as log:
        log.ingest_pending()
    os.link(loki / "events" / "archive" / name, loki / "events" / "pending" / name)
    with FileEventLog(loki) as log:
        log.ingest_pending()
        assert log.head_seq == 1
    assert not (loki / "events" / "pending" / name).exists()
    assert (loki / "events" / "archive" / name).exists()
