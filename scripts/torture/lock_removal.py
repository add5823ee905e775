"""Lock-file removal: `events/log.lock` is deleted (a "stale lock" clean-up) while writers run.

Long-lived Python writers and a bash emitter append durably; part way, the lock file is
unlinked and more writers start. Writers that still hold a descriptor of the old file must
notice that its path names another file now and lock that one, or the two groups would each
hold "the" lock and cut each other's lines as torn. Afterwards every acknowledged event is
stored exactly once, and verify is clean (no whole event quarantined).
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from scripts.torture.common import HANG_SECONDS, Result, acked_ids, child_env, python_writer, score, scratch

HERE = Path(__file__).resolve().parent


def _writers(root: Path, tag: str, count: int) -> list[list[str]]:
    argv = [python_writer(root, f"{tag}p{i}", count) for i in range(2)]
    if shutil.which("flock"):
        argv.append(["bash", str(HERE / "bash_writer.sh"), str(root), f"{tag}b", str(count)])
    return argv


def _start(argv: list[str], work: Path, name: str):
    out = open(work / f"{name}.out", "wb")
    return subprocess.Popen(argv, stdout=out, stderr=subprocess.DEVNULL, env=child_env(), start_new_session=True), out


def _wait_for_acks(path: Path, count: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\nACK") + path.read_bytes().startswith(b"ACK") >= count:
            return
        time.sleep(0.01)


def run(trials: int = 1, seed: int = 0, events: int = 150) -> Result:
    """Each trial: writers start, the lock file is removed part way, more writers join."""
    result = Result("lock file removed while writers run")
    for trial in range(trials):
        with scratch() as work:
            root = work / ".loki"
            procs = []
            for i, argv in enumerate(_writers(root, f"t{trial}a", events)):
                procs.append(_start(argv, work, f"a{i}"))
            deadline = time.monotonic() + HANG_SECONDS
            _wait_for_acks(work / "a0.out", events // 3, deadline)
            (root / "events" / "log.lock").unlink()
            for i, argv in enumerate(_writers(root, f"t{trial}b", events)):
                procs.append(_start(argv, work, f"b{i}"))
            acked = []
            for proc, out in procs:
                try:
                    proc.wait(timeout=HANG_SECONDS * 6)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    result.fail("a writer did not finish")
                out.close()
            for out_file in sorted(work.glob("*.out")):
                text = out_file.read_text(errors="replace")
                acked += acked_ids(text)
                for line in text.splitlines():
                    if line.startswith("ERR"):
                        result.fail(f"{out_file.stem}: {line}")
            score(result, root, acked)
            result.trials += 1
    return result


if __name__ == "__main__":
    from scripts.torture.run import main_for
    sys.exit(main_for("lock_removal"))
