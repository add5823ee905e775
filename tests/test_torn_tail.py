"""Torn writes at the end of the active segment: every cut point recovers a valid prefix."""
import os
import shutil

from hypothesis import HealthCheck, given, settings, strategies as st

import pytest

from eventlog import FileEventLog, LogSettings
from eventlog.store import LogTruncatedError
from eventlog.verify import verify_log

EVENTS = 6


def _segment(root):
    return root / "events" / "log" / "00000000000000000001.jsonl"


def _fresh_log(root):
    if root.exists():
        shutil.rmtree(root)
    with FileEventLog(root) as log:
        log.append_many([{"type": "task", "source": "runner", "payload": {"i": i, "text": "é\n\"" * i}} for i in range(EVENTS)])
    # The cuts below stand for appends that tore before they were acknowledged, so no
    # high-water mark may have recorded them: drop the tail sidecar that says they were.
    (root / "events" / "log.tail").unlink()
    return _segment(root).read_bytes()


def _line_starts(data: bytes) -> list[int]:
    return [0] + [i + 1 for i, b in enumerate(data[:-1]) if b == 0x0A]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut_back=st.integers(1, 400), tail=st.sampled_from(["none", "zeros", "random", "newline-garbage"]), noise=st.binary(min_size=1, max_size=64))
def test_any_cut_of_the_last_lines_recovers_a_valid_prefix(tmp_path, cut_back, tail, noise):
    root = tmp_path / "loki"
    data = _fresh_log(root)
    cut = max(len(data) - cut_back, 0)
    damaged = data[:cut] + {"none": b"", "zeros": b"\0" * len(noise), "random": noise.replace(b"\n", b"x"),
                            "newline-garbage": noise.replace(b"\n", b"x") + b"\n"}[tail]
    _segment(root).write_bytes(damaged)
    whole = sum(1 for start in _line_starts(data) if data.find(b"\n", start) < cut)

    with FileEventLog(root) as log:
        assert [e.seq for e in log.read()] == list(range(1, whole + 1))  # readers skip the torn end
        receipt = log.append("after", "test")
        assert receipt.seq == whole + 1
        assert [e.seq for e in log.read()] == list(range(1, whole + 2))
        removed = b"".join(p.read_bytes() for p in sorted((root / "events" / "quarantine").glob("*.torn")))
    kept = _segment(root).read_bytes()
    assert kept.startswith(data[: _line_starts(data + b"\n")[whole]])
    if len(damaged) > len(data[: _line_starts(data + b"\n")[whole]]):
        assert removed == damaged[len(data[: _line_starts(data + b"\n")[whole]]):]  # evidence kept
    assert verify_log(log.paths).ok


def test_a_valid_looking_final_line_with_the_wrong_seq_is_cut(loki):
    with FileEventLog(loki) as log:
        log.append("a", "b")
        log.append("a", "b")
    segment = _segment(loki)
    lines = segment.read_bytes().splitlines(keepends=True)
    segment.write_bytes(lines[0] + lines[1].replace(b'"seq":2', b'"seq":9'))
    with FileEventLog(loki) as log:
        # A whole event is cut (it cannot follow seq 1), but never quietly: it is kept as
        # `.event`, verify reports it, and seq 2, acknowledged before, is not handed out again.
        with pytest.raises(LogTruncatedError):
            log.append("c", "d")
        assert "seq 9" in log.cuts[0].reason
        assert log.cuts[0].saved_as.name.endswith(".event")
        kinds = {f.kind for f in verify_log(log.paths).findings}
        assert {"quarantined_event", "log_shorter_than_seen"} <= kinds


def test_verify_reports_a_torn_tail_with_its_offset_and_fix_quarantines_it(loki, cli):
    with FileEventLog(loki) as log:
        log.append("a", "b")
    segment = _segment(loki)
    size = segment.stat().st_size
    with open(segment, "ab") as handle:
        handle.write(b'{"seq":2,"id":"x","ty')
    result = cli("verify")
    assert result.exit_code == 1
    assert f"torn_tail: 00000000000000000001.jsonl:{size} (seq 2)" in result.output
    fixed = cli("verify", "--fix")
    assert fixed.exit_code == 0, fixed.output
    assert "quarantined 21 bytes" in fixed.output
    assert segment.stat().st_size == size
    assert cli("verify").exit_code == 0


def test_sealed_segments_are_never_cut(loki):
    settings_ = LogSettings(segment_max_bytes=300)
    with FileEventLog(loki, settings=settings_) as log:
        for i in range(6):
            log.append("task", "runner", {"i": i, "pad": "x" * 100})
    sealed = sorted((loki / "events" / "log").iterdir())[0]
    before = sealed.read_bytes()
    assert not os.access(sealed, os.W_OK) or os.geteuid() == 0
    with FileEventLog(loki, settings=settings_) as log:
        log.append("more", "x")
    assert sealed.read_bytes() == before
