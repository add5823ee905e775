"""The suite's own fixtures: durability tests land on a disk-backed file system, never skip."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from conftest import SCRATCH, disk_backed_dir
from eventlog.fsutil import is_tmpfs


def test_durable_loki_is_on_a_disk_backed_file_system(durable_loki: Path):
    assert not is_tmpfs(durable_loki.parent)


def test_a_temp_dir_on_tmpfs_is_replaced_by_a_scratch_dir_in_the_checkout(tmp_path: Path):
    if not is_tmpfs(tmp_path):
        assert disk_backed_dir(tmp_path, "some test") == tmp_path
    if not (os.path.isdir("/dev/shm") and is_tmpfs(Path("/dev/shm"))):
        return  # no tmpfs here to try the other branch on
    with tempfile.TemporaryDirectory(dir="/dev/shm") as shm:
        chosen = disk_backed_dir(Path(shm), "some test")
        try:
            assert chosen.parent == SCRATCH and not is_tmpfs(chosen)
        finally:
            chosen.rmdir()
