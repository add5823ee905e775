"""The bash emitter's fast path trusts the tail sidecar only as far as a probe shows it true.

Each test makes the sidecar disagree with the segment the way a crash or an edit would (bytes
after the recorded end, lines cut, another inode, another segment), then checks that
`lokilog-emit` took the exact path: nothing appended after bytes it does not know, no probe
byte left behind, seqs dense once Python has caught up, and `lokilog verify` clean.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from eventlog import FileEventLog
from eventlog.tailmark import TailMark, format_mark, read_mark
from eventlog.verify import verify_log
from tests.clients import BASH_EMIT, bash_emit, emit_env, pending_files

pytestmark = pytest.mark.skipif(shutil.which("flock") is None, reason="flock(1) is not installed")

SEGMENT = "00000000000000000001.jsonl"


def _seed(loki: Path, n: int = 3) -> Path:
    with FileEventLog(loki) as log:
        for i in range(n):
            log.append("task", "py", {"i": i})
    return loki / "events" / "log" / SEGMENT


def _settle(loki: Path) -> list[int]:
    """Let Python take the lock (cutting what was never acknowledged) and ingest the drop box."""
    with FileEventLog(loki) as log:
        log.append("task", "py", {"after": True})
        log.ingest_pending()
        seqs = [e.seq for e in log.read()]
    assert verify_log(FileEventLog(loki).paths).ok
    return seqs


def _emitted(done) -> str:
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode().strip()


def test_the_fast_path_appends_and_keeps_the_sidecar_exact(loki):
    segment = _seed(loki)
    for _ in range(3):
        _emitted(bash_emit("t", "s", "x", loki=loki))
    st = segment.stat()
    assert read_mark(loki / "events" / "log.tail") == TailMark(SEGMENT, st.st_ino, st.st_size, 6)
    assert not pending_files(loki) and _settle(loki) == list(range(1, 8))


@pytest.mark.parametrize("extra", [b"{\"seq\":4,\"id\":\"tor", b"{\"seq\":4,\"id\":\"x\",\"type\":\"t\"}\n"])
def test_bytes_after_the_recorded_end_are_never_written_after(loki, extra):
    segment = _seed(loki)
    with segment.open("ab") as f:  # a writer killed before it recorded its append
        f.write(extra)
    before = segment.read_bytes()
    event_id = _emitted(bash_emit("t", "s", "x", loki=loki))
    assert segment.read_bytes() == before  # the probe byte was taken back
    assert len(pending_files(loki)) == 1
    assert _settle(loki) == [1, 2, 3, 4, 5]
    with FileEventLog(loki) as log:
        assert event_id in [e.id for e in log.read()]


def test_a_probe_that_cannot_be_taken_back_sends_the_event_to_the_drop_box(loki, tmp_path):
    segment = _seed(loki)
    with segment.open("ab") as f:
        f.write(b"{\"seq\":4,\"id\":\"tor")
    bin_dir = tmp_path / "bin"  # no truncate(1)
    bin_dir.mkdir()
    for tool in ("flock", "mkdir", "mv", "rm", "sync", "tail", "stat"):
        os.symlink(shutil.which(tool), bin_dir / tool)
    done = subprocess.run([shutil.which("bash"), str(BASH_EMIT), "t", "s", "x"], env=emit_env(loki, PATH=str(bin_dir)),
                          capture_output=True, timeout=30)
    _emitted(done)
    assert b"drop box" in done.stderr and len(pending_files(loki)) == 1
    assert _settle(loki) == [1, 2, 3, 4, 5]


def test_lines_cut_from_the_end_are_reported_and_the_event_waits(loki):
    segment = _seed(loki)
    lines = segment.read_bytes().splitlines(keepends=True)
    segment.write_bytes(b"".join(lines[:-1]))
    before = segment.read_bytes()
    done = bash_emit("t", "s", "x", loki=loki)
    _emitted(done)
    assert b"seq 3 was stored before" in done.stderr
    assert segment.read_bytes() == before and len(pending_files(loki)) == 1


@pytest.mark.parametrize("lie", ["inode", "segment", "seq-format"])
def test_a_sidecar_that_names_another_file_costs_speed_only(loki, lie):
    segment = _seed(loki)
    sidecar = loki / "events" / "log.tail"
    mark = read_mark(sidecar)
    if lie == "inode":
        sidecar.write_bytes(format_mark(TailMark(mark.segment, mark.inode + 1, mark.size, mark.last_seq)))
    elif lie == "segment":
        sidecar.write_bytes(format_mark(TailMark("00000000000000000000.jsonl", mark.inode, mark.size, mark.last_seq)))
    else:
        sidecar.write_bytes(sidecar.read_bytes().replace(b" 0000", b" 00x0", 1))
    before = segment.read_bytes()
    _emitted(bash_emit("t", "s", "x", loki=loki))
    after = segment.read_bytes()
    assert after.startswith(before) and after[len(before):].startswith(b'{"seq":4,')  # the exact path
    assert not pending_files(loki) and _settle(loki) == [1, 2, 3, 4, 5]


def test_a_full_segment_by_the_sidecar_is_not_probed(loki):
    segment = _seed(loki)
    before = segment.read_bytes()
    _emitted(bash_emit("t", "s", "x", loki=loki, LOKI_EVENTS_SEGMENT_BYTES=str(len(before))))
    assert segment.read_bytes() == before and len(pending_files(loki)) == 1


def test_a_sidecar_for_another_inode_is_not_trusted_for_the_seq(loki):
    segment = _seed(loki)
    sidecar = loki / "events" / "log.tail"
    mark = read_mark(sidecar)  # as if the segment had been replaced by a copy (same size)
    sidecar.write_bytes(format_mark(TailMark(mark.segment, mark.inode + 1, mark.size, mark.last_seq + 4)))
    before = segment.read_bytes()
    done = bash_emit("t", "s", "x", loki=loki)
    _emitted(done)
    # The exact path reads seq 3 from the segment; seq 7 counts as seen: the event waits.
    assert b"seq 7 was stored before" in done.stderr
    assert segment.read_bytes() == before and len(pending_files(loki)) == 1


def test_the_fast_path_fires_no_err_trap_in_library_mode(loki):
    # Its reads of /proc end at EOF with a non-zero status; a hook's ERR trap must not see them.
    script = ('source "$1"; set -o errtrace; trap \'echo "ERR $BASH_COMMAND" >&2\' ERR\n'
              'for i in 1 2 3; do lokilog_emit t s x "n:=$i" >/dev/null; done\n'
              'printf "%s\\n" \'{"type":"t","source":"s","payload":{}}\' | lokilog_emit_batch >/dev/null\n')
    done = subprocess.run(["bash", "-c", script, "hook", str(BASH_EMIT)], env=emit_env(loki),
                          capture_output=True, timeout=60)
    assert done.returncode == 0 and b"ERR" not in done.stderr, done.stderr
    assert _settle(loki) == [1, 2, 3, 4, 5]
