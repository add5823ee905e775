"""Dropping lokilog into an existing Loki Mode `.loki/`: every legacy writer's events, exactly once."""
from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from eventlog import FileEventLog, LogSettings
from legacy_fixtures import (
    EMIT_SH, append_flat, bus_py_timestamp, bus_ts_timestamp, dual_write, flat_line, loki_subscriber_pass,
    nested, rotate, run_sh_emit_event, write_pending,
)

T0 = datetime(2026, 2, 21, 10, 0, 0, 123456, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def events(loki: Path) -> list:
    with FileEventLog(loki, settings=LogSettings()) as log:
        return list(log.read(ingest=False))


def ingest(loki: Path):
    with FileEventLog(loki, settings=LogSettings()) as log:
        return log.ingest_pending()


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*"))} if folder.exists() else {}


@pytest.mark.parametrize("keep", [True, False])
def test_files_from_bus_py_bus_ts_and_emit_sh_are_ingested_and_never_rewritten(loki, monkeypatch, keep):
    if not keep:
        monkeypatch.setenv("LOKI_EVENTS_ARCHIVE_LEGACY_FILES", "1")  # the old behaviour, opted into
    write_pending(loki, nested("a1b2c3d4", "task", "runner", bus_py_timestamp(at(0)), {"action": "claim", "task_id": "t1"}))
    write_pending(loki, nested("k3j9z0a", "user", "vscode", bus_ts_timestamp(at(1)), {"action": "click"}))
    write_pending(loki, nested("0badf00d", "session", "cli", "2026-02-21T10:00:02.000Z", {"action": "start"}), "compact")
    write_pending(loki, nested("5eed5eed", "task", "api", bus_py_timestamp(at(-1).replace(microsecond=0)), {"action": "x"}))
    (loki / "events" / "pending" / "2026-02-21T10-00-00Z_a1b2c3d4.json.lock").write_text("")
    (loki / "events" / "pending" / "2026-02-21T10-00-09Z_ffffffff.json.tmp").write_text('{"id": "ffff')
    before = snapshot(loki / "events" / "pending")
    report = ingest(loki)
    stored = events(loki)
    assert (report.ingested, report.bad) == (4, [])
    assert [e.payload.get("action") for e in stored] == ["x", "claim", "click", "start"]  # by instant
    assert [e.id for e in stored] == ["5eed5eed", "a1b2c3d4", "k3j9z0a", "0badf00d"]  # their own ids
    assert {(e.type, e.source) for e in stored} == {("task", "runner"), ("user", "vscode"), ("session", "cli"), ("task", "api")}
    after = {**snapshot(loki / "events" / "pending"), **snapshot(loki / "events" / "archive")}
    assert after == before  # moved to archive/ (as Loki Mode's subscribers do) or kept: never rewritten
    events_left = sorted(n for n in snapshot(loki / "events" / "pending") if n.endswith(".json"))
    assert len(events_left) == (4 if keep else 0)
    assert ingest(loki).ingested == 0 and len(events(loki)) == 4


def test_emit_sh_dual_writes_are_one_event_each_with_the_file_s_source(loki):
    env = {**os.environ, "LOKI_DIR": str(loki)}
    for n in range(3):
        subprocess.run(["bash", str(EMIT_SH), "task", "hook", "complete", f"task_id=t{n}"], env=env, check=True, timeout=30)
    assert len((loki / "events.jsonl").read_bytes().splitlines()) == 3
    report = ingest(loki)
    stored = events(loki)
    assert (report.ingested, report.twins) == (3, 3)
    assert [e.payload["task_id"] for e in stored] == ["t0", "t1", "t2"]
    assert {e.source for e in stored} == {"hook"}  # from the file: the flat copy has none


def test_a_flat_line_seen_before_its_file_is_still_one_event(loki):
    event = nested("a1b2c3d4", "task", "runner", "2026-02-21T10:00:00.000Z", {"action": "x"})
    append_flat(loki, flat_line(event["timestamp"], "task", event["payload"]))
    assert ingest(loki).ingested == 1
    write_pending(loki, event)
    report = ingest(loki)
    assert (report.ingested, report.twins) == (0, 1)
    assert len(events(loki)) == 1


def test_colliding_ids_and_identical_copies_are_never_merged(loki):
    # Two distinct events that happen to share a 32-bit id.
    first = nested("deadbeef", "task", "runner", bus_ts_timestamp(at(0)), {"action": "start"})
    second = nested("deadbeef", "task", "runner", bus_ts_timestamp(at(5)), {"action": "done"})
    write_pending(loki, first)
    write_pending(loki, second)
    # run.sh: the same line twice in one second is two events.
    line = flat_line("2026-02-21T10:00:07Z", "metric", {"tick": 1})
    append_flat(loki, line + line)
    # emit.sh twice in one millisecond with the same body: two files, two flat lines, two events.
    for event_id in ("00000001", "00000002"):
        dual_write(loki, nested(event_id, "state", "cli", "2026-02-21T10:00:08.000Z", {"action": "phase"}))
    report = ingest(loki)
    stored = events(loki)
    assert report.ingested == 6 and report.twins == 2
    assert Counter(e.type for e in stored) == {"task": 2, "metric": 2, "state": 2}
    assert len({e.id for e in stored}) == 6
    assert [e.id for e in stored if e.type == "task"][0] == "deadbeef"  # the second got a new id
    assert ingest(loki).ingested == 0


def test_a_loki_file_reusing_the_id_of_a_lokilog_event_is_a_conflict_left_in_place(loki):
    with FileEventLog(loki, settings=LogSettings()) as log:
        log.append("task", "vscode", {"action": "complete"}, id="abcd1234")
    path = write_pending(loki, nested("abcd1234", "task", "vscode", "2026-02-21T10:00:00.000Z", {"task_id": "other"}))
    report = ingest(loki)
    assert "already stored at seq 1 with different content" in report.bad[0].reason
    assert path.exists() and len(events(loki)) == 1
    path.write_text(json.dumps(nested("fresh001", "task", "vscode", "2026-02-21T10:00:00.000Z", {"n": 1})))
    assert ingest(loki).ingested == 1  # changed: read again


def test_compound_types_and_run_sh_string_bodies(loki):
    append_flat(loki, flat_line("2026-02-21T10:00:00Z", "session_start", {"provider": "claude"}))
    append_flat(loki, run_sh_emit_event("2026-02-21T10:00:01Z", "iteration_complete", "iteration 3 done"))
    append_flat(loki, flat_line("2026-02-21T10:00:02Z", "task_failed", {"action": "failed", "source": "skill"}))
    ingest(loki)
    stored = events(loki)
    assert [(e.type, e.action, e.source) for e in stored] == [
        ("session", "start", "runner"), ("iteration_complete", None, "runner"), ("task", "failed", "skill")]
    assert stored[0].extra["legacy"]["type"] == "session_start"
    assert stored[1].payload == {"data": "iteration 3 done"}


def test_a_loki_subscriber_moving_files_to_archive_loses_and_doubles_nothing(loki):
    for n in range(6):
        write_pending(loki, nested(f"{n:08x}", "task", "runner", bus_ts_timestamp(at(n)), {"n": n}))
    loki_subscriber_pass(loki)  # before lokilog ever looked: found in archive/
    for n in range(6, 10):
        write_pending(loki, nested(f"{n:08x}", "task", "runner", bus_ts_timestamp(at(n)), {"n": n}))
    ingest(loki)
    loki_subscriber_pass(loki)  # after: the same names, already counted
    assert ingest(loki).ingested == 0
    assert sorted(e.payload["n"] for e in events(loki)) == list(range(10))


def test_lokilog_drop_box_files_are_archived_and_keep_their_ids(loki, monkeypatch):
    from eventlog.locking import LogLock

    holder = LogLock(loki / "events" / "log.lock")
    holder.acquire(1)
    try:
        with FileEventLog(loki, settings=LogSettings(lock_timeout=0.05)) as log:
            receipt = log.append("task", "cli", {"action": "x"}, id="t-1")
    finally:
        holder.release()
        holder.close()
    assert receipt.status == "pending"
    ingest(loki)
    stored = events(loki)
    assert [e.id for e in stored] == ["t-1"] and "legacy" not in stored[0].extra
    assert list((loki / "events" / "pending").glob("*.json")) == []
    assert len(list((loki / "events" / "archive").glob("*.json"))) == 1
    with FileEventLog(loki, settings=LogSettings()) as log:  # the retry is the same event
        assert log.append("task", "cli", {"action": "x"}, id="t-1").status == "duplicate"


def test_rotation_of_events_jsonl_reads_every_line_once(loki):
    lines = [flat_line(f"2026-02-21T10:00:{n:02d}Z", "metric", {"n": n}) for n in range(12)]
    append_flat(loki, b"".join(lines[:4]))
    ingest(loki)
    append_flat(loki, b"".join(lines[4:6]))  # written, not yet read, then rotated away
    rotate(loki)
    append_flat(loki, b"".join(lines[6:9]))
    ingest(loki)
    rotate(loki)  # events.jsonl.1 replaced: already fully read
    append_flat(loki, b"".join(lines[9:]))
    ingest(loki)
    assert [e.payload["n"] for e in events(loki)] == list(range(12))


def test_truncation_and_a_new_file_starting_with_the_same_line(loki):
    lines = [flat_line(f"2026-02-21T10:01:{n:02d}Z", "metric", {"n": n}) for n in range(6)]
    append_flat(loki, b"".join(lines[:3]))
    ingest(loki)
    (loki / "events.jsonl").write_bytes(lines[3])  # truncated in place and rewritten
    ingest(loki)
    (loki / "events.jsonl").write_bytes(lines[0])  # ...and again, starting with an old first line
    ingest(loki)
    rotate(loki)
    append_flat(loki, lines[0] + lines[4])  # run.sh repeats a line within its second, after a rotation
    append_flat(loki, lines[5], name="events.jsonl.1")
    ingest(loki)
    assert sorted(e.payload["n"] for e in events(loki)) == [0, 0, 0, 1, 2, 3, 4, 5]


def test_a_torn_flat_tail_waits_for_its_newline(loki):
    line = flat_line("2026-02-21T10:00:00Z", "task", {"action": "x"})
    append_flat(loki, line[:20])
    assert ingest(loki).ingested == 0
    append_flat(loki, line[20:])
    assert ingest(loki).ingested == 1


def test_bad_files_are_reported_left_in_place_and_retried_when_they_change(loki):
    event = nested("a1b2c3d4", "task", "runner", "2026-02-21T10:00:00.000Z", {"action": "x"})
    whole = json.dumps(event, indent=2).encode()
    path = write_pending(loki, event)
    path.write_bytes(whole[: len(whole) // 2])  # bus.py writes in place: a reader can see half
    odd = loki / "events" / "pending" / "2026-02-21T10-00-01Z_00000000.json"
    odd.write_text('["not", "an", "event"]')
    report = ingest(loki)
    assert report.ingested == 0
    assert {(b.path.name, b.reason.split(":")[0]) for b in report.bad} == {
        (path.name, "not valid JSON (torn or still being written?)"), (odd.name, "an event file is a JSON object, not list")}
    assert ingest(loki).bad and path.exists() and odd.exists()  # still reported, never deleted
    path.write_bytes(whole)
    report = ingest(loki)
    assert report.ingested == 1 and [b.path.name for b in report.bad] == [odd.name]


def test_readers_ingest_first(loki):
    append_flat(loki, flat_line("2026-02-21T10:00:00Z", "task", {"action": "x"}))
    with FileEventLog(loki, settings=LogSettings()) as log:
        assert [e.action for e in log.read()] == ["x"]
        append_flat(loki, flat_line("2026-02-21T10:00:01Z", "task", {"action": "y"}))
        assert [e.action for e in log.read()] == ["x", "y"]


def test_an_unwritable_state_never_fails_an_append(loki):
    with FileEventLog(loki, settings=LogSettings()) as log:
        log.append("task", "cli", {"action": "first"})
    state = loki / "events" / "legacy.sqlite"
    state.unlink()
    state.mkdir()  # SQLite cannot open a directory
    append_flat(loki, flat_line("2026-02-21T10:00:00Z", "task", {"action": "x"}))
    with FileEventLog(loki, settings=LogSettings()) as log:
        assert log.append("task", "cli", {"action": "second"}).status == "appended"
        from eventlog.errors import LegacyIngestError

        with pytest.raises(LegacyIngestError, match="legacy.sqlite"):
            log.ingest_pending()


def test_a_touched_or_copied_file_or_a_lost_state_is_not_a_new_event(loki):
    import shutil
    import sqlite3

    from eventlog.legacy.ingest import legacy_state_path

    event = nested("a1b2c3d4", "task", "runner", "2026-02-21T10:00:00.000Z", {"action": "x"})
    path = write_pending(loki, event)
    append_flat(loki, flat_line("2026-02-21T10:00:01Z", "metric", {"n": 1}))
    ingest(loki)
    assert path.exists()  # left in pending/ for Loki Mode's own subscribers
    os.utime(path, ns=(1, 1))  # mtime changed, content not
    (loki / "events" / "archive").mkdir(exist_ok=True)
    shutil.copy(path, loki / "events" / "archive" / path.name)  # and a copy in archive/
    assert ingest(loki).ingested == 0
    state = legacy_state_path(loki / "events")
    with sqlite3.connect(state) as db:
        db.execute("DELETE FROM files")  # file marks lost: the counted records still say "seen"
    report = ingest(loki)
    assert (report.ingested, report.duplicates) == (0, 1)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{state}{suffix}").unlink(missing_ok=True)
    report = ingest(loki)  # everything forgotten: re-counted against the log, still nothing new
    assert (report.ingested, report.twins) == (0, 2)
    assert len(events(loki)) == 2


def test_a_drop_box_retry_after_its_first_copy_was_archived_is_archived_too(loki):
    from eventlog import Event
    from eventlog.pending import drop

    event = Event(seq=0, id="retry-me", type="task", source="cli", timestamp="2026-02-21T10:00:00.000Z",
                  version="1.0", payload={"action": "x"})
    drop(loki / "events" / "pending", event)
    assert ingest(loki).ingested == 1
    drop(loki / "events" / "pending", event)  # the writer retried: same id, same timestamp
    report = ingest(loki)
    assert (report.ingested, report.duplicates) == (0, 1)
    assert list((loki / "events" / "pending").glob("*.json")) == []


def test_an_invalid_or_oversized_legacy_event_is_reported_and_never_blocks_the_rest(loki):
    huge = {"blob": "x" * (1024 * 1024)}
    write_pending(loki, nested("a1b2c3d4", "task", "runner", "2026-02-21T10:00:00.000Z", huge))
    write_pending(loki, nested("a1b2c3d5", "ta\u0001sk", "runner", "2026-02-21T10:00:00.001Z", {}))
    write_pending(loki, nested("a1b2c3d6", "task", "runner", "2026-02-21T10:00:00.002Z", {"ok": 1}))
    append_flat(loki, flat_line("2026-02-21T10:00:01Z", "task", huge))
    append_flat(loki, flat_line("2026-02-21T10:00:02Z", "task", {"ok": 2}))
    report = ingest(loki)
    assert report.ingested == 2
    reasons = sorted(b.reason for b in report.bad)
    assert len(reasons) == 3 and sum("bytes encoded; the limit is" in r for r in reasons) == 2
    assert any("control characters" in r for r in reasons)
    assert sorted(e.payload["ok"] for e in events(loki) if e.type != "ingest") == [1, 2]
    assert len([e for e in events(loki) if e.type == "ingest"]) == 2  # each bad file recorded once
