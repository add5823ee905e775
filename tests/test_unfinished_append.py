"""Bytes past the last completed append (a writer killed mid-batch) are never read, never
appended after, and cut whole by the next lock holder."""
from __future__ import annotations

from eventlog import FileEventLog
from eventlog.codec import add_checksums
from eventlog.verify import verify_log
from tests.clients import bash_emit, pending_files

SEGMENT = "00000000000000000001.jsonl"


def _half_written_batch(loki) -> None:
    # What a batch writer killed inside its write leaves: whole lines, then a torn one, and
    # the tail sidecar still at the end of the previous append.
    lines = b"".join(
        add_checksums(b'{"seq":%d,"id":"dead-%d","type":"task","source":"killed","timestamp":'
                      b'"2026-02-21T10:00:00.000Z","version":"1.0","payload":{}}\n' % (seq, seq))
        for seq in (4, 5, 6))
    with open(loki / "events" / "log" / SEGMENT, "ab") as segment:
        segment.write(lines + b'{"seq":7,"id":"dead-7","ty')


def test_an_unfinished_batch_is_invisible_to_readers_and_cut_whole(loki):
    with FileEventLog(loki) as log:
        for n in range(3):
            log.append("task", "py", {"n": n})
    _half_written_batch(loki)
    with FileEventLog(loki) as reader:
        assert [e.seq for e in reader.read(ingest=False)] == [1, 2, 3]
    assert "unfinished_append" in {f.kind for f in verify_log(FileEventLog(loki).paths).findings}
    assert bash_emit("task", "hook", "claim", loki=loki).returncode == 0  # not after those bytes
    assert len(pending_files(loki)) == 1
    with FileEventLog(loki) as log:
        assert log.append("task", "py").seq == 5  # after the bash event, ingested first
        stored = [(e.seq, e.source) for e in log.read()]
        [cut] = [c for c in log.cuts if c.saved_as.name.endswith(".unfinished")]
    assert stored == [(1, "py"), (2, "py"), (3, "py"), (4, "hook"), (5, "py")]
    assert cut.saved_as.read_bytes().count(b"\n") == 3
    assert verify_log(FileEventLog(loki).paths).ok


def test_head_seq_ends_at_the_last_completed_append(loki):
    with FileEventLog(loki) as log:
        for n in range(3):
            log.append("task", "py", {"n": n})
    _half_written_batch(loki)
    assert FileEventLog(loki).head_seq == 3
