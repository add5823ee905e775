"""Links planted in `.loki/`: lokilog never writes through one to a file outside the project."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from commands.checkpoints.ids import CheckpointIdError
from commands.checkpoints.restore import Op, execute
from commands.checkpoints.store import CheckpointStore, Entry
from eventlog import FileEventLog, LogSettings
from eventlog.fsutil import atomic_write, is_tmpfs

from conftest import run_lokilog

LINES = b"one\ntwo\nthree\nfour\n"


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() if p.is_file() else b"<dir>"
            for p in sorted(directory.rglob("*"))}


def test_a_segment_linked_to_a_file_outside_is_refused_and_the_file_is_untouched(loki, tmp_path):
    outside = tmp_path / "notes.txt"
    outside.write_bytes(LINES)
    log_dir = loki / "events" / "log"
    log_dir.mkdir(parents=True)
    os.symlink(outside, log_dir / f"{1:020d}.jsonl")
    done = run_lokilog("emit", "task", "-a", "start", loki=loki, timeout=20)
    assert done.returncode == 1
    assert "symbolic link" in done.stderr and done.stderr.strip().count("\n") == 0
    assert outside.read_bytes() == LINES
    assert not (loki / "events" / "quarantine").exists()


@pytest.mark.parametrize("linked", ["state", "audit", "events/quarantine", "events/archive", "events/cursors"])
def test_a_directory_of_loki_that_leads_outside_is_refused_with_one_line_and_a_doctor_finding(loki, tmp_path, linked):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "keep.txt").write_bytes(b"mine")
    (loki / linked).parent.mkdir(parents=True, exist_ok=True)
    os.symlink(outside, loki / linked)
    before = _snapshot(outside)
    done = run_lokilog("emit", "task", "-a", "start", loki=loki, timeout=20, LOKI_AUDIT="1")
    assert done.returncode == 1
    assert "leads outside" in done.stderr and done.stderr.strip().count("\n") == 0
    run_lokilog("rebuild", loki=loki, timeout=30)
    run_lokilog("checkpoint", "create", "-m", "x", loki=loki, timeout=30)
    assert _snapshot(outside) == before
    doctor = run_lokilog("doctor", loki=loki, timeout=30)
    assert doctor.returncode == 1
    assert "[problem] containment" in doctor.stdout and linked in doctor.stdout


def test_the_library_refuses_too(loki, tmp_path):
    from eventlog.errors import UnsafePathError

    (loki / "events").mkdir(parents=True)
    os.symlink(tmp_path, loki / "events" / "archive")
    with pytest.raises(UnsafePathError, match="leads outside"):
        FileEventLog(loki, settings=LogSettings())


def test_a_link_inside_loki_is_allowed(loki):
    (loki / "events").mkdir(parents=True)
    (loki / "elsewhere-inside").mkdir()
    os.symlink(loki / "elsewhere-inside", loki / "events" / "archive")
    with FileEventLog(loki, settings=LogSettings()) as log:
        assert log.append("task", "cli", {}).seq == 1


def test_the_checkpoint_store_creates_no_lock_in_a_link_target(loki, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    loki.mkdir()
    os.symlink(outside, loki / "state")
    with pytest.raises(CheckpointIdError, match="leads outside"):
        with CheckpointStore(loki).lock():
            pass
    assert list(outside.rglob("*")) == []


def test_the_checkpoint_lock_itself_is_not_followed(loki, tmp_path):
    store = CheckpointStore(loki)
    store.root.mkdir(parents=True)
    os.symlink(tmp_path / "planted-lock", store.root / ".lock")
    with pytest.raises(CheckpointIdError, match="symbolic link"):
        with store.lock():
            pass
    assert not (tmp_path / "planted-lock").exists()


def test_a_planted_temp_link_does_not_receive_an_atomic_write(tmp_path):
    target = tmp_path / "outside.txt"
    target.write_bytes(LINES)
    inside = tmp_path / "dir"
    inside.mkdir()
    os.symlink(target, inside / "view.json.tmp")
    atomic_write(inside / "view.json", b"{}")
    assert target.read_bytes() == LINES and (inside / "view.json").read_bytes() == b"{}"


def test_a_restore_racing_a_directory_swap_never_writes_outside(tmp_path):
    root, outside = tmp_path / "loki", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "scope").mkdir()
    ops = [Op("write", Entry(path=f"scope/f{i}.txt", kind="file", sha256="x")) for i in range(20)]
    stop = threading.Event()

    def swap() -> None:
        while not stop.is_set():
            try:
                os.rename(root / "scope", root / "scope.real")
                os.symlink(outside, root / "scope")
                os.unlink(root / "scope")
                os.rename(root / "scope.real", root / "scope")
            except OSError:
                pass

    racer = threading.Thread(target=swap)
    racer.start()
    try:
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline and not list(outside.iterdir()):
            execute(root, ops, lambda digest: b"data")
    finally:
        stop.set()
        racer.join(5)
    assert list(outside.iterdir()) == []


def test_tmpfs_detection_matches_whole_mount_points():
    from eventlog.fsutil import mount_type

    mounts = "/dev/sda1 / ext4 rw 0 0\ntmpfs /mnt/tmp tmpfs rw 0 0\ntmpfs /mnt/my\\040disk tmpfs rw 0 0\n"
    assert mount_type(Path("/mnt/tmpfs2/log"), mounts) == "ext4"
    assert mount_type(Path("/mnt/tmp/log"), mounts) == "tmpfs"
    assert mount_type(Path("/mnt/tmp"), mounts) == "tmpfs"
    assert mount_type(Path("/mnt/my disk/x"), mounts) == "tmpfs"
    if is_tmpfs(Path("/dev/shm")):  # a real mount whose name prefixes a path outside it
        assert not is_tmpfs(Path("/dev/shmx"))
