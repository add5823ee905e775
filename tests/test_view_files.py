"""Views replaced without an fsync: readers see the old bytes or the new, never a mix."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from eventlog.fsutil import atomic_write
from projections.view_files import WrittenFiles, identity

#: Reads the view as fast as it can for a bounded time; prints every distinct content's length.
READER = """
import sys, time
path, seconds = sys.argv[1], float(sys.argv[2])
seen, end = set(), time.monotonic() + seconds
while time.monotonic() < end:
    with open(path, "rb") as f:
        seen.add(f.read())
print(" ".join(sorted(str(len(data)) for data in seen)))
"""


def test_a_view_is_replaced_by_a_new_file_and_leaves_nothing_behind(tmp_path: Path):
    path = tmp_path / "view.json"
    atomic_write(path, b"first\n", durable=False)  # no file yet: created
    before = identity(path)
    atomic_write(path, [b"sec", b"ond", b"\n"], durable=False)
    assert path.read_bytes() == b"second\n"
    assert identity(path)[0] != before[0]  # a new inode: an open reader keeps the old bytes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["view.json"]


def test_a_stray_temp_file_or_planted_link_is_not_written_through(tmp_path: Path):
    outside = tmp_path / "outside"
    outside.write_bytes(b"keep")
    path = tmp_path / "view.json"
    path.write_bytes(b"old")
    (tmp_path / "view.json.tmp").symlink_to(outside)
    atomic_write(path, b"new", durable=False)
    assert path.read_bytes() == b"new" and outside.read_bytes() == b"keep"
    assert not (tmp_path / "view.json.tmp").exists()


def test_a_reader_in_another_process_never_sees_a_partial_view(tmp_path: Path):
    path = tmp_path / "view.json"
    small, large = b"a" * 10_000, b"b" * 1_000_000
    atomic_write(path, small, durable=False)
    reader = subprocess.Popen([sys.executable, "-c", READER, str(path), "1.5"], stdout=subprocess.PIPE, text=True)
    end = time.monotonic() + 1.5
    for n in range(2_000):  # bounded in count and in time
        atomic_write(path, [large[:500_000], large[500_000:]] if n % 2 else small, durable=False)
        if time.monotonic() > end:
            break
    out, _ = reader.communicate(timeout=30)
    assert reader.returncode == 0
    assert set(out.split()) <= {"10000", "1000000"}


def test_written_files_skip_an_unchanged_view_and_repair_a_replaced_one(tmp_path: Path):
    files, path = WrittenFiles(), tmp_path / "view.json"
    assert files.write(path, b"one", durable=False)
    assert not files.write(path, b"one", durable=False)
    path.unlink()
    path.write_bytes(b"someone else's")
    assert files.write(path, b"one", durable=False) and path.read_bytes() == b"one"
    assert files.write(path, b"two", durable=False) and path.read_bytes() == b"two"
    assert files.unchanged(path)
    os.utime(path, ns=(1, 1))
    assert not files.unchanged(path)
