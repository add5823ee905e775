"""Block memos: a rebuild that takes memoized blocks writes what a rebuild folding every event writes."""
from __future__ import annotations

import shutil
import time
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventlog import FileEventLog
from projections.engine import blocks, rebuild
from projection_helpers import Counter, StoppingCounter

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts" / "bench"))
from realistic_run import write_run  # noqa: E402


class MemoCounter(Counter):
    name = "memo-counter"
    block_memo = "counts"


class MemoStopper(StoppingCounter):
    name = "memo-stopper"
    block_memo = "counts"


def _memo_file(loki: Path, name: str) -> Path:
    return loki / "projections" / name / blocks.MEMO_FILE


def _clean(loki: Path, projections) -> list:
    # The reference: the same rebuild with every memo removed first.
    for p in projections:
        _memo_file(loki, p.name).unlink(missing_ok=True)
    return [(r.name, r.seq, r.state, r.dead_letters, r.stopped) for r in rebuild(loki, projections)]


def _results(loki: Path, projections) -> list:
    return [(r.name, r.seq, r.state, r.dead_letters, r.stopped) for r in rebuild(loki, projections)]


def _events(kinds: list[int], poison_at: set[int]) -> list[dict]:
    return [{"type": f"t{k}", "source": "test", "payload": {"n": i, "pad": "x" * (i % 7) * 40, "poison": i in poison_at}}
            for i, k in enumerate(kinds)]


batches = st.lists(st.tuples(st.lists(st.integers(0, 3), min_size=1, max_size=60), st.sets(st.integers(0, 59), max_size=2)),
                   min_size=1, max_size=4)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=batches, block=st.sampled_from([512, 2048, 1 << 20]))
def test_memoized_rebuilds_equal_clean_rebuilds_as_the_log_grows(monkeypatch, batches, block):
    monkeypatch.setattr(blocks, "BLOCK_BYTES", block)
    projections = [MemoCounter(), MemoStopper(), Counter()]
    with tempfile.TemporaryDirectory() as tmp:
        loki = Path(tmp) / ".loki"
        for kinds, poison in batches:
            with FileEventLog(loki) as log:
                log.append_many(_events(kinds, poison))
            first = _results(loki, projections)  # takes what the previous rebuild recorded
            again = _results(loki, projections)  # takes what this one recorded
            assert first == again == _clean(loki, projections)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prefix=st.lists(st.integers(0, 3), min_size=0, max_size=80), a=st.lists(st.integers(0, 3), min_size=1, max_size=40),
       b=st.lists(st.integers(0, 3), min_size=1, max_size=40))
def test_a_memo_from_another_log_is_only_taken_where_the_bytes_agree(monkeypatch, prefix, a, b):
    monkeypatch.setattr(blocks, "BLOCK_BYTES", 1024)
    projections = [MemoCounter()]
    with tempfile.TemporaryDirectory() as tmp:
        first, second = Path(tmp) / "a" / ".loki", Path(tmp) / "b" / ".loki"
        for loki, tail in ((first, a), (second, b)):
            with FileEventLog(loki) as log:
                log.append_many(_events(prefix + tail, set()))
        rebuild(first, projections)
        if len(prefix + a) > 20:
            assert blocks.read_memo(first, projections[0])  # ~60-byte events: several whole blocks
        # The second log shares a prefix with the first: a rewritten log under an old memo.
        (second / "projections" / "memo-counter").mkdir(parents=True, exist_ok=True)
        shutil.copy(_memo_file(first, "memo-counter"), _memo_file(second, "memo-counter"))
        assert _results(second, projections) == _clean(second, projections)


def test_a_damaged_or_foreign_memo_is_a_miss(loki, monkeypatch):
    monkeypatch.setattr(blocks, "BLOCK_BYTES", 1024)
    with FileEventLog(loki) as log:
        log.append_many(_events([0, 1, 2, 3] * 50, set()))
    projections = [MemoCounter()]
    rebuild(loki, projections)
    path = _memo_file(loki, "memo-counter")
    recorded = blocks.read_memo(loki, MemoCounter())
    assert len(recorded) > 3
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    assert blocks.read_memo(loki, MemoCounter()) == []
    assert _results(loki, projections) == _clean(loki, projections)
    other = MemoCounter()
    other.block_memo = "counts differently"
    assert blocks.read_memo(loki, other) == []


def test_the_audit_folds_take_their_memo_and_write_the_same_files(loki):
    from projections.registry import all_projections

    write_run(loki, 6_000, 40)
    chosen = [p for p in all_projections() if p.name in ("audit", "audit-merkle", "run-state")]
    rebuild(loki, chosen)
    files = {p: p.read_bytes() for p in sorted(loki.rglob("*")) if p.is_file() and "events" not in p.parts
             and not p.name.endswith("lock")}
    assert blocks.read_memo(loki, chosen[-1]) or blocks.read_memo(loki, chosen[0])
    memoized = _results(loki, chosen)
    assert {p: p.read_bytes() for p in files} == files
    assert memoized == _clean(loki, chosen)
    assert {p: p.read_bytes() for p in files} == files


@pytest.mark.parametrize("cut", [1, 2])
def test_blocks_cover_the_log_once_in_order(loki, monkeypatch, cut):
    monkeypatch.setattr(blocks, "BLOCK_BYTES", 700 * cut)
    with FileEventLog(loki) as log:
        log.append_many(_events([0, 1] * 100, set()))
        data = b"".join(p.read_bytes() for p in sorted(log.paths.log_dir.iterdir()))
        # Each view holds its block until the next one is read: copied as they come.
        pieces = [(segment, start, bytes(view), final) for segment, start, view, final in blocks.log_blocks(log.paths.log_dir)]
    assert b"".join(piece for _, _, piece, _ in pieces) == data
    assert all(piece.endswith(b"\n") for _, _, piece, _ in pieces)
    assert [final for *_, final in pieces][:-1] == [True] * (len(pieces) - 1)


@pytest.mark.parametrize("block", [96, 700, 1 << 20])
def test_blocks_of_rotated_and_compressed_segments_are_the_same_blocks(tmp_path, monkeypatch, block):
    import gzip

    from eventlog import LogSettings
    from eventlog.segments import list_segments

    # 96 bytes: shorter than a line, so every block is one line read across several reads.
    monkeypatch.setattr(blocks, "BLOCK_BYTES", block)
    plain, packed = tmp_path / "plain" / ".loki", tmp_path / "packed" / ".loki"
    with FileEventLog(plain, settings=LogSettings(segment_max_bytes=3000)) as log:
        for _ in range(12):  # a segment rotates between appends
            log.append_many(_events([0, 1, 2] * 3, set()))
    shutil.copytree(plain, packed)
    segments = list_segments(packed / "events" / "log")
    assert len(segments) > 2
    for segment in segments[:-1]:
        with gzip.open(segment.path.with_name(segment.path.name + ".gz"), "wb") as out:
            out.write(segment.path.read_bytes())
        segment.path.unlink()

    def read(loki: Path) -> list:
        log_dir = loki / "events" / "log"
        return [(segment.first_seq, start, bytes(view), final) for segment, start, view, final in blocks.log_blocks(log_dir)]

    ours, theirs = read(plain), read(packed)
    assert ours == theirs
    data = b"".join(s.path.read_bytes() for s in list_segments(plain / "events" / "log"))
    assert b"".join(piece for _, _, piece, _ in ours) == data
    assert all(piece.endswith(b"\n") and piece.count(b"\n") >= 1 for _, _, piece, _ in ours)
    if block == 96:
        assert all(piece.count(b"\n") == 1 for _, _, piece, _ in ours)


KILLED_CHILD = r"""
import sys
from pathlib import Path
from projections.audit.merkle.projection import MerkleProjection
from projections.audit.projection import AuditProjection
from projections.engine import blocks, rebuild
blocks.BLOCK_BYTES = 2048
loki = Path(sys.argv[1])
print("ready", flush=True)
while True:  # rebuild forever: every moment is a moment of folding or writing files and memos
    rebuild(loki, [AuditProjection(), MerkleProjection()])
"""


def test_kill_9_while_rebuilding_with_memos_leaves_a_log_that_rebuilds_cleanly(durable_loki, tmp_path, rng, monkeypatch):
    import subprocess

    from conftest import read_line, subprocess_env
    from projections.audit.merkle.projection import MerkleProjection
    from projections.audit.projection import AuditProjection

    monkeypatch.setattr(blocks, "BLOCK_BYTES", 2048)
    loki = durable_loki
    write_run(loki, 1_500, 20)
    projections = [AuditProjection(), MerkleProjection()]
    reference = tmp_path / "reference" / ".loki"
    shutil.copytree(loki, reference)
    expected = _clean(reference, projections)
    for trial in range(8):
        child = subprocess.Popen([sys.executable, "-c", KILLED_CHILD, str(loki)], env=subprocess_env(),
                                 stdout=subprocess.PIPE, text=True)
        try:
            assert read_line(child.stdout) == "ready\n"
            time.sleep(rng.uniform(0, 0.4))
            child.kill()
            child.wait(timeout=10)
        finally:
            child.stdout.close()
        assert _results(loki, projections) == expected, f"trial {trial}"
        assert _results(loki, projections) == expected, f"trial {trial}, from the memo just written"


def test_the_audit_memo_is_not_taken_under_another_audit_selection(loki, monkeypatch):
    from projections.audit.projection import AuditProjection
    from projections.audit.settings import AuditSettings

    monkeypatch.setattr(blocks, "BLOCK_BYTES", 2048)
    write_run(loki, 800, 10)
    every = AuditProjection(AuditSettings.from_env({}))
    tasks_only = AuditProjection(AuditSettings.from_env({"LOKI_AUDIT_EVENTS": "task*"}))
    rebuild(loki, [every])
    assert blocks.read_memo(loki, every) and blocks.read_memo(loki, tasks_only) == []
    assert _results(loki, [tasks_only]) == _clean(loki, [tasks_only])
    assert _results(loki, [tasks_only])[0][2].entries < _results(loki, [every])[0][2].entries
