"""Seqs are never handed out twice: the tail sidecar's high-water mark, kept by every writer.

Each test damages a real log on disk the way the adversarial review did (lines cut from the
end, every segment removed), then runs real writers (`lokilog emit`, `lokilog-emit`) against it.
"""
from __future__ import annotations

import os
import shutil

import pytest

from eventlog import FileEventLog
from eventlog.store import LogTruncatedError
from eventlog.tailmark import format_mark, parse_mark, read_mark, TailMark
from eventlog.verify import verify_log
from tests.clients import bash_emit, pending_files
from tests.conftest import run_lokilog

SEGMENT = "00000000000000000001.jsonl"


def _segment(loki):
    return loki / "events" / "log" / SEGMENT


def _cut_last_lines(loki, count: int) -> None:
    lines = _segment(loki).read_bytes().splitlines(keepends=True)
    _segment(loki).write_bytes(b"".join(lines[:-count]))


def _seqs(loki) -> list[int]:
    with FileEventLog(loki) as log:
        return [e.seq for e in log.read(ingest=False)]


def test_lokilog_emit_refuses_to_reuse_seqs_cut_from_the_end(loki):
    for n in range(5):
        assert run_lokilog("emit", "task", f"n:={n}", loki=loki).returncode == 0
    _cut_last_lines(loki, 2)
    done = run_lokilog("emit", "task", "n:=5", loki=loki)
    assert done.returncode != 0 and "seq 5 was stored before" in done.stderr
    assert _seqs(loki) == [1, 2, 3]
    report = verify_log(FileEventLog(loki).paths)
    assert [f.kind for f in report.findings] == ["log_shorter_than_seen"]


def test_the_bash_emitter_refuses_too_and_parks_the_event_in_the_drop_box(loki):
    with FileEventLog(loki) as log:
        log.append_many([{"type": "task", "source": "py", "payload": {"n": n}} for n in range(50)])
    _cut_last_lines(loki, 5)
    done = bash_emit("task", "hook", "claim", loki=loki)
    assert done.returncode == 0  # stored, in the drop box: nothing is lost
    assert b"seq 50 was stored before" in done.stderr
    assert _seqs(loki) == list(range(1, 46))
    assert len(pending_files(loki)) == 1
    assert not verify_log(FileEventLog(loki).paths).ok


def test_with_every_segment_removed_nobody_starts_again_at_seq_1(loki):
    with FileEventLog(loki) as log:
        for n in range(3):
            log.append("task", "py", {"n": n})
    shutil.rmtree(loki / "events" / "log")
    (loki / "events" / "index.sqlite").unlink(missing_ok=True)
    with FileEventLog(loki) as log, pytest.raises(LogTruncatedError, match="seq 3 was stored before"):
        log.append("task", "py")
    assert bash_emit("task", "hook", "claim", loki=loki).returncode == 0
    assert not (loki / "events" / "log" / SEGMENT).exists() or _seqs(loki) == []
    assert verify_log(FileEventLog(loki).paths).findings[0].kind == "log_shorter_than_seen"


def test_verify_fix_accepts_the_loss_and_appends_resume_after_the_new_head(loki, cli):
    with FileEventLog(loki) as log:
        for n in range(4):
            log.append("task", "py", {"n": n})
    _cut_last_lines(loki, 1)
    assert cli("verify", "--fix").exit_code == 0
    with FileEventLog(loki) as log:
        assert log.append("task", "py").seq == 4


def test_every_writer_keeps_the_sidecar_current(loki):
    with FileEventLog(loki) as log:
        log.append("task", "py")
    assert bash_emit("task", "hook", "claim", loki=loki).returncode == 0
    mark = read_mark(loki / "events" / "log.tail")
    st = os.stat(_segment(loki))
    assert mark == TailMark(SEGMENT, st.st_ino, st.st_size, 2)
    with FileEventLog(loki) as log:
        assert log.append("task", "py").seq == 3
    assert read_mark(loki / "events" / "log.tail").last_seq == 3


@pytest.mark.parametrize("damage", ["missing", "torn", "garbage", "stale-size"])
def test_a_lost_or_torn_sidecar_costs_speed_never_a_seq(loki, damage):
    with FileEventLog(loki) as log:
        for n in range(3):
            log.append("task", "py", {"n": n})
    sidecar = loki / "events" / "log.tail"
    line = sidecar.read_bytes()
    if damage == "missing":
        sidecar.unlink()
    elif damage == "torn":
        sidecar.write_bytes(line[:40])
    elif damage == "garbage":
        sidecar.write_bytes(b"\0" * len(line))
    else:  # a valid line for another segment size: not trusted as this file's tail
        mark = parse_mark(line)
        sidecar.write_bytes(format_mark(TailMark(mark.segment, mark.inode + 1, mark.size - 7, mark.last_seq)))
    for _ in range(2):
        assert bash_emit("task", "hook", "claim", loki=loki).returncode == 0
    with FileEventLog(loki) as log:
        assert log.append("task", "py").seq == 6
    assert _seqs(loki) == [1, 2, 3, 4, 5, 6]
    assert pending_files(loki) == []
    assert verify_log(FileEventLog(loki).paths).ok


def test_the_sidecar_format_is_one_fixed_width_line():
    line = format_mark(TailMark(SEGMENT, 1234, 56, 7))
    assert line == b"1 00000000000000000001.jsonl 00000000000000001234 00000000000000000056 00000000000000000007\n"
    assert parse_mark(line) == TailMark(SEGMENT, 1234, 56, 7)
    assert parse_mark(line[:-1]) is None and parse_mark(b"2" + line[1:]) is None


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed (scripts/test installs it)")
@pytest.mark.parametrize("durability, expected", [("never", ["bash", "flock"]), ("always", ["bash", "flock", "sync"])])
def test_the_bash_fast_path_runs_flock_and_nothing_else_but_sync(loki, durability, expected):
    import subprocess

    from tests.clients import BASH_EMIT, emit_env

    assert bash_emit("task", "hook", "first", loki=loki).returncode == 0  # the sidecar exists now
    trace = loki.parent / "exec.trace"
    done = subprocess.run(["strace", "-f", "-qq", "-e", "trace=execve", "-o", str(trace), "bash", str(BASH_EMIT),
                           "task", "hook", "second"], env=emit_env(loki, LOKI_EVENTS_DURABILITY=durability),
                          capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr
    programs = [line.split('"')[1].rsplit("/", 1)[-1] for line in trace.read_text().splitlines()
                if "execve(" in line and "resumed" not in line]
    assert programs == expected
    assert _seqs(loki) == [1, 2]
