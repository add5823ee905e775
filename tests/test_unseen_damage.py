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
    assert [(f.kind, f.segment) for f in findings] == [("checksum_missing", sealed.path.name)]


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
