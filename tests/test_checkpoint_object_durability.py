"""A checkpoint object that already exists still gets its directory fsynced (real strace)."""
from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO, subprocess_env

STORE = """
import sys
from pathlib import Path
from commands.checkpoints.store import CheckpointStore
store = CheckpointStore(Path(sys.argv[1]))
store.put_object(b"the same bytes")
store.flush()
"""


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed (scripts/test installs it)")
def test_an_object_left_by_a_crashed_run_is_synced_again(loki):
    def run(traced_dir=None):
        trace = ["strace", "-f", "-qq", "-P", str(traced_dir), "-e", "trace=fsync"] if traced_dir else []
        return subprocess.run([*trace, sys.executable, "-c", STORE, str(loki)], capture_output=True, text=True,
                              timeout=60, env=subprocess_env(), cwd=REPO)

    assert run().returncode == 0  # stands for the run that crashed after linking the object
    shard = next((loki / "state" / "checkpoints" / ".objects").iterdir())
    done = run(shard)
    assert done.returncode == 0, done.stderr
    assert "fsync(" in done.stderr, "the shard directory of an existing object was not fsynced"
