"""Regression found by the torture suite: `ulimit -f` made lokilog-emit die mid-line (SIGXFSZ)."""
import shutil
import subprocess

import pytest

from eventlog import FileEventLog
from eventlog.verify import verify_log
from conftest import REPO

EMIT = str(REPO / "scripts" / "lokilog-emit")


@pytest.mark.skipif(shutil.which("flock") is None, reason="flock(1) is not installed")
def test_a_file_size_limit_fails_the_append_cleanly(loki):
    with FileEventLog(loki) as log:
        log.append("task", "setup", {"pad": "p" * 900})
    segment = loki / "events" / "log" / "00000000000000000001.jsonl"
    size = segment.stat().st_size
    # ulimit -f counts 1024-byte blocks: the limit falls inside the next line.
    script = f'ulimit -f {size // 1024 + 1}; exec "$@"'
    done = subprocess.run(["bash", "-c", script, "limit", EMIT, "task", "hook", "claim", "pad=" + "q" * 1500,
                           "--loki-dir", str(loki)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "nothing stored" in done.stderr
    assert segment.stat().st_size == size  # no torn line left for someone else to cut
    assert verify_log(FileEventLog(loki).paths).ok
