"""Damage that used to go unseen: a sealed segment without its checksum, a seq gap in replay."""
from __future__ import annotations

import os

from eventlog import FileEventLog, LogSettings
from eventlog.segments import list_segments
from eventlog.verify import verify_log
from tests.conftest import run_lokilog


def _three_segments(loki):
    with FileEventLog(loki, settings=LogSettings(segment_max_bytes=2000)) as log:
        for n in range(40):
            log.append("task", "py", {"n": n, "pad": "x" * 40})
    segments = list_segments(loki / "events" / "log")
    assert len(segments) >= 3
    return segments


def test_a_sealed_segment_whose_checksum_was_removed_and_then_edited_is_reported(loki):
    segments = _three_segments(loki)
    sealed = segments[0]
    (sealed.path.parent / f"{sealed.first_seq:020d}.sha256").unlink()
    os.chmod(sealed.path, 0o644)
    sealed.path.write_bytes(sealed.path.read_bytes().replace(b'"pad":"x', b'"pad":"y', 1))
    os.chmod(sealed.path, 0o444)
    findings = verify_log(FileEventLog(loki).paths).findings
    # The line's own crc catches the edit; the missing checksum file is reported by itself.
    assert sorted((f.kind, f.segment) for f in findings) == [
        ("checksum_mismatch", sealed.path.name), ("checksum_missing", sealed.path.name)]


def test_replay_fails_on_a_seq_gap_unless_asked_to_read_past_it(loki):
    segments = _three_segments(loki)
    middle = segments[1]
    middle.path.unlink()
    (middle.path.parent / f"{middle.first_seq:020d}.sha256").unlink()
    done = run_lokilog("replay", "--json", loki=loki)
    assert done.returncode == 1
    assert f"jumps from seq {middle.first_seq - 1} to seq {segments[2].first_seq}" in done.stderr
    allowed = run_lokilog("replay", "--json", "--allow-gaps", loki=loki)
    assert allowed.returncode == 0
    assert len(allowed.stdout.splitlines()) == 40 - (segments[2].first_seq - middle.first_seq)


def _flip_in_payload(segment, needle: bytes) -> None:
    data = segment.read_bytes()
    at = data.index(needle)
    segment.write_bytes(data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :])


def test_a_flipped_byte_in_a_payload_of_the_active_segment_is_caught(loki):
    with FileEventLog(loki) as log:
        log.append("task", "py", {"note": "hello"})
        log.append("task", "py", {"note": "world"})
    segment = list_segments(loki / "events" / "log")[-1].path
    _flip_in_payload(segment, b"world")  # "vorld": still valid JSON, right seq
    report = verify_log(FileEventLog(loki).paths)
    assert [(f.kind, f.seq) for f in report.findings] == [("checksum_mismatch", 2)]
    done = run_lokilog("replay", "--json", loki=loki)
    assert done.returncode == 1 and "do not match its crc" in done.stderr


def test_bash_lines_are_covered_by_the_next_lock_holder_and_counted_until_then(loki):
    from tests.clients import bash_emit

    with FileEventLog(loki) as log:
        log.append("task", "py")
    assert bash_emit("task", "hook", "claim", "note=bashline", loki=loki).returncode == 0
    assert verify_log(FileEventLog(loki).paths).lines_without_checksum == 1
    with FileEventLog(loki) as log:
        log.append("task", "py")
    report = verify_log(FileEventLog(loki).paths)
    assert report.ok and report.lines_without_checksum == 0
    _flip_in_payload(list_segments(loki / "events" / "log")[-1].path, b"bashline")
    assert [f.kind for f in verify_log(FileEventLog(loki).paths).findings] == ["checksum_mismatch"]


def test_lines_written_before_checksums_still_read_and_verify(loki):
    old = (b'{"seq":1,"id":"old-1","type":"task","source":"runner","timestamp":"2026-02-21T10:00:00.000Z",'
           b'"version":"1.0","payload":{"action":"start"}}\n')
    (loki / "events" / "log").mkdir(parents=True)
    (loki / "events" / "log" / "00000000000000000001.jsonl").write_bytes(old)
    with FileEventLog(loki) as log:
        assert log.append("task", "py").seq == 2
        assert [e.id for e in log.read()][0] == "old-1"
    report = verify_log(FileEventLog(loki).paths)
    assert report.ok and report.events == 2
