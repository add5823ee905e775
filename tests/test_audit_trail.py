"""The chain on disk: catch-up, rotation across files, byte-identical rebuilds, no forks, crash recovery."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import read_line, subprocess_env
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventlog import FileEventLog, NewEvent
from projections.audit import AuditProjection, AuditSettings
from projections.audit.entry import Selection
from projections.audit.files import audit_dir, chain_files, read_head_record
from projections.audit.trail import EntryQuery, chain_head, read_entries, verify_trail
from projections.audit.writer import sync_chain
from projections.engine import catch_up, rebuild, state_at


def emit(loki: Path, n: int, start: int = 0) -> None:
    with FileEventLog(loki) as log:
        log.append_many([NewEvent(type="task" if i % 3 else "metric", source="runner",
                                  payload={"action": "created", "task_id": f"t{i}", "agent_id": f"agent-{i % 2}",
                                           "path": f"src/f{i}.py"},
                                  timestamp=f"2026-02-21T10:{(i // 60) % 60:02d}:{i % 60:02d}.000Z")
                         for i in range(start, start + n)])


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.name != "audit.lock"}


SMALL = AuditSettings(max_bytes=20_000, max_files=4)


def test_catch_up_writes_the_chain_and_verify_compares_it_with_the_log(loki):
    emit(loki, 50)
    state = catch_up(loki, AuditProjection(AuditSettings()))
    head = chain_head(loki)
    assert (head.seq, head.hash, head.entries) == (50, state.state.head, 50)
    record = read_head_record(audit_dir(loki))
    assert (record.seq, record.hash, record.entries) == (50, head.hash, 50)
    result = verify_trail(loki, AuditSettings())
    assert result.valid and result.entries == 50 and result.pending == 0 and result.checkedLog
    emit(loki, 5, start=50)
    assert verify_trail(loki, AuditSettings()).pending == 5  # not yet audited is not broken


def test_rotation_keeps_one_chain_across_files_and_prunes_by_count(loki):
    emit(loki, 300)
    catch_up(loki, AuditProjection(SMALL))
    files = chain_files(audit_dir(loki))
    assert len(files) == 4 and files[-1].name == "audit.jsonl"
    assert all(f.stat().st_size <= SMALL.max_bytes for f in files)
    record = read_head_record(audit_dir(loki))
    assert record.pruned is not None and record.entries == 300
    result = verify_trail(loki, SMALL)
    assert result.valid and result.entries == 300 and result.prunedThrough == record.pruned.seq
    files[0].unlink()  # a rotated file removed by hand is not pruning: the chain no longer links
    broken = verify_trail(loki, SMALL)
    assert not broken.valid and broken.brokenAt == record.pruned.seq + 1


def test_incremental_catch_up_equals_a_rebuild_byte_for_byte(loki, tmp_path):
    projection = AuditProjection(SMALL)
    for batch in range(6):
        emit(loki, 37, start=batch * 37)
        catch_up(loki, projection)
    incremental = snapshot(audit_dir(loki))
    shutil.rmtree(audit_dir(loki))
    rebuild(loki, [projection])
    assert snapshot(audit_dir(loki)) == incremental
    shutil.rmtree(audit_dir(loki))
    rebuild(loki, [projection])
    assert snapshot(audit_dir(loki)) == incremental


def test_time_travel_gives_the_head_at_any_seq(loki):
    emit(loki, 40)
    catch_up(loki, AuditProjection(AuditSettings()))
    at = state_at(loki, AuditProjection(AuditSettings()), seq=17).state
    entries = list(read_entries(loki))
    assert at.head == entries[16].hash and at.entries == 17


def test_a_torn_last_entry_is_cut_and_re_audited(loki):
    emit(loki, 20)
    catch_up(loki, AuditProjection(AuditSettings()))
    active = audit_dir(loki) / "audit.jsonl"
    clean = active.read_bytes()
    lines = clean.splitlines(keepends=True)
    active.write_bytes(b"".join(lines[:-1]) + lines[-1][:40])  # a kill -9 mid-write
    (audit_dir(loki) / "head.json").unlink()  # and before the head was recorded
    sync_chain(loki, AuditSettings())
    assert active.read_bytes() == clean and verify_trail(loki, AuditSettings()).valid


def test_a_cut_tail_is_caught_by_the_recorded_head(loki):
    emit(loki, 20)
    catch_up(loki, AuditProjection(AuditSettings()))
    active = audit_dir(loki) / "audit.jsonl"
    active.write_bytes(b"".join(active.read_bytes().splitlines(keepends=True)[:-3]))
    result = verify_trail(loki, AuditSettings())
    assert (result.valid, result.brokenAt, result.brokenIndex) == (False, 18, 17)


def test_tampering_with_the_log_on_disk_is_caught_at_the_right_seq(loki):
    emit(loki, 30)
    catch_up(loki, AuditProjection(AuditSettings()))
    segment = next((loki / "events" / "log").glob("*.jsonl"))
    os.chmod(segment, 0o644)
    original = segment.read_bytes()
    lines = original.splitlines(keepends=True)
    segment.write_bytes(original.replace(b'"task_id":"t11"', b'"task_id":"t99"'))
    assert verify_trail(loki, AuditSettings()).brokenAt == 12
    segment.write_bytes(b"".join(lines[:6] + lines[7:]))
    assert verify_trail(loki, AuditSettings()).brokenAt == 7
    segment.write_bytes(b"".join(lines[:9] + [lines[10], lines[9]] + lines[11:]))
    assert verify_trail(loki, AuditSettings()).brokenAt == 10
    segment.write_bytes(original)
    assert verify_trail(loki, AuditSettings()).valid


def test_an_anchor_catches_a_rewrite_of_log_and_chain_together(loki, tmp_path):
    emit(loki, 10)
    catch_up(loki, AuditProjection(AuditSettings()))
    anchor = chain_head(loki).hash
    assert verify_trail(loki, AuditSettings(), against=anchor).anchorFound
    shutil.rmtree(loki)  # a wholesale rewrite: a different history, consistently chained
    emit(loki, 10, start=5)
    catch_up(loki, AuditProjection(AuditSettings()))
    assert verify_trail(loki, AuditSettings()).valid
    result = verify_trail(loki, AuditSettings(), against=anchor)
    assert not result.valid and result.anchorFound is False


def test_only_selected_events_are_audited(loki):
    emit(loki, 30)
    only_tasks = AuditSettings(selection=Selection.parse("task.*"))
    catch_up(loki, AuditProjection(only_tasks))
    entries = list(read_entries(loki))
    assert len(entries) == 20 and all(e.what == "task.created" for e in entries)
    assert verify_trail(loki, only_tasks).valid


def test_query_filters_by_who_what_and_time(loki):
    emit(loki, 30)
    catch_up(loki, AuditProjection(AuditSettings()))
    by_agent = list(read_entries(loki, EntryQuery.build(who="agent-1")))
    assert len(by_agent) == 15 and {e.who for e in by_agent} == {"agent-1"}
    assert len(list(read_entries(loki, EntryQuery.build(what="metric")))) == 10
    window = list(read_entries(loki, EntryQuery.build(since="2026-02-21T10:00:10Z", until="2026-02-21T10:00:19.000Z")))
    assert [e.seq for e in window] == list(range(11, 21))


def test_disabled_audit_is_not_registered(monkeypatch):
    from projections.registry import all_projections

    monkeypatch.setenv("LOKI_AUDIT_DISABLED", "true")
    assert not [p for p in all_projections() if p.name == "audit"]
    monkeypatch.delenv("LOKI_AUDIT_DISABLED")
    assert [p for p in all_projections() if p.name == "audit"]


WRITER = """
import sys
from pathlib import Path

import pytest
from eventlog import FileEventLog, NewEvent
from projections.audit import AuditSettings
from projections.audit.writer import sync_chain
loki, rounds, tag = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
settings = AuditSettings(max_bytes=30_000, max_files=1000)
with FileEventLog(loki) as log:
    for i in range(rounds):
        log.append_many([NewEvent(type="task", source="runner", payload={"action": "x", "w": tag, "i": i, "j": j}) for j in range(3)])
        sync_chain(loki, settings)
"""


def test_concurrent_writers_extend_one_chain_and_never_fork(loki):
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(loki), "40", str(w)], env=subprocess_env())
             for w in range(4)]
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    settings = AuditSettings(max_bytes=30_000, max_files=1000)
    sync_chain(loki, settings)
    result = verify_trail(loki, settings)
    assert result.valid, result.error
    assert result.entries == 480 and result.pending == 0 and len(chain_files(audit_dir(loki))) > 1


SYNCER = """
import sys
from pathlib import Path

import pytest
from projections.audit import AuditSettings
from projections.audit.writer import sync_chain
print("ready", flush=True)
sync_chain(Path(sys.argv[1]), AuditSettings(max_bytes=200_000, max_files=5))
"""


def test_kill_9_while_writing_then_restart_gives_the_clean_chain(loki, tmp_path):
    emit(loki, 12000)
    settings = AuditSettings(max_bytes=200_000, max_files=5)
    heads = []
    for delay in (0.02, 0.06, 0.04):
        proc = subprocess.Popen([sys.executable, "-c", SYNCER, str(loki)], env=subprocess_env(), stdout=subprocess.PIPE)
        assert read_line(proc.stdout).strip() == b"ready"
        time.sleep(delay)  # not synchronisation: a random-ish point at which to kill the writer
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
        heads.append(chain_head(loki).seq)
    assert min(heads) < 12000, heads  # at least one kill landed mid-write
    sync_chain(loki, settings)
    assert verify_trail(loki, settings).valid
    survived = snapshot(audit_dir(loki))
    clean = tmp_path / "clean" / ".loki"
    shutil.copytree(loki / "events", clean / "events")
    sync_chain(clean, settings)
    assert snapshot(audit_dir(clean)) == survived


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.integers(1, 40), min_size=1, max_size=5), max_bytes=st.integers(1500, 6000),
       max_files=st.integers(1, 4))
def test_any_catch_up_schedule_gives_the_files_of_one_rebuild(tmp_path_factory, batches, max_bytes, max_files):
    loki = tmp_path_factory.mktemp("audit") / ".loki"
    projection = AuditProjection(AuditSettings(max_bytes=max_bytes, max_files=max_files))
    done = 0
    for size in batches:
        emit(loki, size, start=done)
        done += size
        catch_up(loki, projection)
    incremental = snapshot(audit_dir(loki))
    assert verify_trail(loki, projection.settings).valid
    shutil.rmtree(audit_dir(loki))
    rebuild(loki, [projection])
    assert snapshot(audit_dir(loki)) == incremental


def test_re_auditing_a_cut_tail_from_an_altered_log_fails_closed(loki):
    from projections.audit.errors import AuditChainError

    emit(loki, 20)
    sync_chain(loki, AuditSettings())
    active = audit_dir(loki) / "audit.jsonl"
    active.write_bytes(b"".join(active.read_bytes().splitlines(keepends=True)[:15]))
    segment = next((loki / "events" / "log").glob("*.jsonl"))
    os.chmod(segment, 0o644)
    segment.write_bytes(segment.read_bytes().replace(b'"task_id":"t19"', b'"task_id":"tX"'))
    with pytest.raises(AuditChainError, match="head.json recorded"):
        sync_chain(loki, AuditSettings())
    assert verify_trail(loki, AuditSettings()).brokenAt == 16


def test_a_prune_interrupted_before_the_unlink_is_finished_not_counted_twice(loki, tmp_path):
    settings_ = AuditSettings(max_bytes=3000, max_files=2)
    emit(loki, 40)
    sync_chain(loki, settings_)
    kept = {p.name: p.read_bytes() for p in chain_files(audit_dir(loki))}
    emit(loki, 40, start=40)
    sync_chain(loki, settings_)  # prunes the oldest files
    for name, data in kept.items():  # a kill after head.json recorded the prune, before unlink
        if not (audit_dir(loki) / name).exists() and name != "audit.jsonl":
            (audit_dir(loki) / name).write_bytes(data)
    emit(loki, 10, start=80)
    sync_chain(loki, settings_)
    clean = tmp_path / "clean" / ".loki"
    shutil.copytree(loki / "events", clean / "events")
    sync_chain(clean, settings_)
    assert snapshot(audit_dir(loki)) == snapshot(audit_dir(clean))
    assert verify_trail(loki, settings_).valid
