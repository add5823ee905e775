"""Bit flips in the active segment, at every byte: each line's crc catches what parses anyway.

The active segment has no sha256 (it still grows), so a flipped bit inside a payload string
used to leave a valid line with the right seq. A small log is written by the Python writer
(every line carries its crc) and by the bash emitter (its lines carry none; the next Python
lock holder records theirs beside the segment, in `<first seq>.crc`); then, for every byte of the segment, one bit is flipped and `verify` must report it.
Flips in a line without a crc count as uncovered, not as misses; flips in a covered line that
verify calls clean are failures ("undetected among covered lines").
"""
from __future__ import annotations

import random
import shutil
import subprocess
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from scripts.torture.common import ROOT, Result, child_env, scratch
from eventlog import FileEventLog
from eventlog.codec import check_line
from eventlog.coverage import coverage_path, read_coverage
from eventlog.verify import verify_log


def build(root: Path) -> None:
    with FileEventLog(root) as log:
        log.append("task", "runner", {"action": "claim", "note": "ok é \" \\n"})
        log.append_many([{"type": "task", "source": "runner", "payload": {"i": i}} for i in range(3)])
        log.append("task", "runner", {"n": 1.5}, stream="s-1", id="flip-1")
    if shutil.which("flock"):
        subprocess.run(["bash", str(ROOT / "scripts" / "lokilog-emit"), "task", "hook", "claim", "x=y",
                        "--loki-dir", str(root)], check=True, capture_output=True, env=child_env(), timeout=30)
    with FileEventLog(root) as log:
        log.append("task", "runner", {"last": True})


def run(trials: int = 200, seed: int = 0) -> Result:
    """Flip one bit in each of up to ``trials`` bytes of the active segment (every byte if it is smaller)."""
    rng = random.Random(seed)
    result = Result("bit flips at every byte of the active segment")
    with scratch() as work:
        root = work / ".loki"
        build(root)
        segment = sorted((root / "events" / "log").glob("*.jsonl"))[-1]
        original = segment.read_bytes()
        assert verify_log(FileEventLog(root).paths).ok
        recorded = read_coverage(coverage_path(segment.parent, int(segment.name[:20])))
        covered_spans = _covered(original, recorded)
        if shutil.which("flock") and len(covered_spans) != len(original.splitlines()):
            result.fail("the bash line was not covered by the next lock holder")
        offsets = list(range(len(original)))
        if trials < len(offsets):
            offsets = sorted(rng.sample(offsets, trials))
        uncovered = 0
        try:
            for offset in offsets:
                damaged = bytearray(original)
                damaged[offset] ^= 1 << rng.randrange(8)
                segment.write_bytes(bytes(damaged))
                result.trials += 1
                try:
                    report = verify_log(FileEventLog(root).paths)
                except Exception as exc:  # a verifier must report, never crash
                    result.fail(f"byte {offset}: verify crashed: {type(exc).__name__}: {exc}")
                    continue
                if report.ok:
                    if any(start <= offset < end for start, end in covered_spans):
                        result.lost += 1  # an undetected flip in a covered line
                        result.fail(f"byte {offset}: a flip in a line with a crc went unseen")
                    else:
                        uncovered += 1
        finally:
            segment.write_bytes(original)
        result.acknowledged = len(original.splitlines())
    return result


def _covered(data: bytes, recorded: dict) -> list[tuple[int, int]]:
    """Byte spans (newline included) of the lines that carry a crc or have one recorded beside."""
    spans, start = [], 0
    for line in data.splitlines(keepends=True):
        if check_line(line.rstrip(b"\n")) is True or start in recorded:
            spans.append((start, start + len(line)))
        start += len(line)
    return spans


if __name__ == "__main__":
    from scripts.torture.run import main_for
    sys.exit(main_for("active_bitflips"))
