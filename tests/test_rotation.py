"""Rotation into sealed segments, reads across them, and seeks that do not scan from the start."""
import gzip
import os

from eventlog import FileEventLog, LogSettings
from eventlog.reader import BadLine
from eventlog.segments import is_sealed, list_segments
from eventlog.verify import verify_log

SMALL = LogSettings(segment_max_bytes=2000)


def _fill(root, count, settings=SMALL):
    with FileEventLog(root, settings=settings) as log:
        for i in range(count):
            log.append("task", "runner", {"i": i, "pad": "x" * 50})


def test_segments_rotate_at_the_size_and_are_named_by_their_first_seq(loki):
    _fill(loki, 100)
    segments = list_segments(loki / "events" / "log")
    assert len(segments) > 5
    with FileEventLog(loki) as log:
        events = list(log.read())
    assert [e.seq for e in events] == list(range(1, 101))
    for segment, following in zip(segments, segments[1:]):
        assert is_sealed(os.stat(segment.path).st_mode)
        first_line = segment.path.read_bytes().split(b"\n", 1)[0]
        assert first_line.startswith(b'{"seq":%d,' % segment.first_seq)
        assert following.first_seq > segment.first_seq
    assert not is_sealed(os.stat(segments[-1].path).st_mode)
    assert verify_log(log.paths).ok


def test_a_writer_with_a_stale_view_follows_a_rotation_done_by_another(loki):
    with FileEventLog(loki, settings=SMALL) as stale, FileEventLog(loki, settings=SMALL) as other:
        stale.append("a", "b")
        for i in range(60):
            other.append("task", "runner", {"pad": "y" * 60})
        assert stale.append("a", "b").seq == 62
    assert verify_log(stale.paths).ok


def test_an_interrupted_rotation_is_finished_by_the_next_writer(loki):
    _fill(loki, 3, LogSettings())
    active = loki / "events" / "log" / "00000000000000000001.jsonl"
    os.chmod(active, 0o444)  # sealed, but the crash came before the successor was created
    with FileEventLog(loki) as log:
        assert log.append("after", "crash").seq == 4
    assert [s.first_seq for s in list_segments(loki / "events" / "log")] == [1, 4]


def test_seeking_to_a_seq_skips_earlier_segments_and_uses_the_index(loki):
    _fill(loki, 3000, LogSettings(segment_max_bytes=100_000))
    with FileEventLog(loki) as log:
        log.append("x", "y", id="build-the-index")  # an id lookup brings the index up to date
    segments = list_segments(loki / "events" / "log")
    assert len(segments) >= 2
    # Damage a line in the first segment and in the start of the last one: a seek past them
    # must not even read them.
    for segment in (segments[0], segments[-1]):
        data = bytearray(segment.path.read_bytes())
        data[20:24] = b"????"
        os.chmod(segment.path, 0o644)
        segment.path.write_bytes(bytes(data))
    bad: list[BadLine] = []
    with FileEventLog(loki) as log:
        tail = list(log.read(2990, on_bad_line=bad.append))
    assert [e.seq for e in tail] == list(range(2990, 3002))
    assert bad == []


def test_compressed_sealed_segments_are_read_transparently(loki):
    _fill(loki, 60)
    first = list_segments(loki / "events" / "log")[0]
    with gzip.open(first.path.with_name(first.path.name + ".gz"), "wb") as packed:
        packed.write(first.path.read_bytes())
    first.path.unlink()
    with FileEventLog(loki) as log:
        assert [e.seq for e in log.read()] == list(range(1, 61))
        assert log.append("more", "x").seq == 61
    assert verify_log(log.paths).ok


def test_a_bit_flipped_inside_a_payload_of_a_sealed_segment_is_reported(loki):
    import subprocess

    _fill(loki, 60)
    first = list_segments(loki / "events" / "log")[0]
    assert verify_log(FileEventLog(loki).paths).ok
    # The recorded checksum is in sha256sum's format.
    subprocess.run(["sha256sum", "--check", "--quiet", "00000000000000000001.sha256"],
                   cwd=first.path.parent, check=True, timeout=30)
    data = bytearray(first.path.read_bytes())
    spot = data.index(b'"pad":"x') + 8
    data[spot] ^= 0x01  # "x" becomes "y": the line still parses, the seq is still right
    os.chmod(first.path, 0o644)
    first.path.write_bytes(bytes(data))
    os.chmod(first.path, 0o444)
    findings = verify_log(FileEventLog(loki).paths).findings
    # Seen twice: by the segment's sha256 and by the line's own crc.
    assert sorted((f.kind, f.segment) for f in findings) == [
        ("checksum_mismatch", first.path.name), ("sealed_segment_changed", first.path.name)]
