"""Fuzz: random files, FIFOs, links and directories planted anywhere in `.loki/`.

Whatever is planted, an append and a read finish within their bound, nothing outside the
project changes, and anything refused is refused with a clear one-line EventLogError.
"""
from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import threading
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventlog import EventLogError, FileEventLog, LogSettings
from projections.registry import all_projections
from subscribers.watch import run_once

BOUND = 10.0  # seconds an operation may take, whatever was planted
KINDS = ("file", "deep_json", "own_json", "fifo", "link_out_file", "link_out_dir", "link_dev_zero", "dir",
         "dangling_link")
NAMES = ("x.json", "y.jsonl", "NEXT_SEGMENT", "index.jsonl", "snapshot.json", "z.json.tmp", ".lock",
         "cursor.json", "legacy-stamp.json.tmp", "q")
_counter = itertools.count()

#: Where a planted file does the most harm; any other directory of `.loki/` is drawn too.
HOT = ("events/pending", "events/archive", "events/log", "events", "events/cursors", "state", "audit",
       "lokilog/audit", "projections/audit", "")

plants = st.lists(
    st.tuples(st.one_of(st.sampled_from(HOT), st.integers(0, 1000)), st.sampled_from(KINDS),
              st.one_of(st.sampled_from(NAMES), st.from_regex(r"[a-z0-9_.-]{1,12}", fullmatch=True)),
              st.binary(max_size=64)),
    min_size=1, max_size=6,
)


def _setup(base: Path) -> tuple[Path, Path]:
    project, outside = base / "project", base / "outside"
    (outside / "dir").mkdir(parents=True)
    (outside / "secret.txt").write_bytes(b"one\ntwo\nthree\nfour\n")
    (outside / "dir" / "inner.txt").write_bytes(b"keep")
    loki = project / ".loki"
    with FileEventLog(loki, settings=LogSettings()) as log:
        for i in range(3):
            log.append("task", "runner", {"action": "created", "task_id": f"t{i}"})
    for sub in ("events/pending", "events/archive", "events/quarantine"):
        (loki / sub).mkdir(parents=True, exist_ok=True)
    run_once(loki, all_projections())
    return loki, outside


def _tree(directory: Path) -> dict:
    out = {}
    for path in sorted(directory.rglob("*")):
        st_ = os.lstat(path)
        out[str(path.relative_to(directory))] = (st_.st_mode, st_.st_size, st_.st_mtime_ns,
                                                 path.read_bytes() if path.is_file() else None)
    return out


def _plant(directory: Path, kind: str, name: str, data: bytes, outside: Path) -> None:
    if name == "NEXT_SEGMENT":
        name = f"{4:020d}.jsonl"
    path = directory / name
    if os.path.lexists(path) or name in (".", ".."):
        return
    if kind == "file":
        path.write_bytes(data)
    elif kind == "deep_json":
        path.write_bytes(b'{"id":"a1b2c3d4","p":' + b"[" * 5000 + b"]" * 5000 + b"}")
    elif kind == "own_json":
        path.write_bytes(b'{"id":"0123456789abcdef0123","type":"ta\\u0001sk","source":"cli",'
                         b'"timestamp":"2026-02-21T10:00:00.000Z","version":"1.0","payload":{}}\n')
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "dir":
        path.mkdir()
    else:
        target = {"link_out_file": outside / "secret.txt", "link_out_dir": outside / "dir",
                  "link_dev_zero": Path("/dev/zero"), "dangling_link": outside / "missing"}[kind]
        os.symlink(target, path)


def _bounded(what: str, action) -> None:
    """Run ``action`` within BOUND seconds; a refusal must be one clear line."""
    outcome: list = []

    def run() -> None:
        try:
            action()
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - judged below
            outcome.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(BOUND)
    assert not worker.is_alive(), f"{what} did not finish within {BOUND}s"
    error = outcome[0]
    if error is not None:
        assert isinstance(error, EventLogError), f"{what}: {type(error).__name__}: {error}"
        message = str(error)
        assert message and "\n" not in message, f"{what}: not a one-line error: {message!r}"


def _append_and_read(loki: Path) -> None:
    with FileEventLog(loki, settings=LogSettings()) as log:
        log.append("task", "runner", {"action": "started", "task_id": "t1"})
        assert any(e.payload.get("action") == "started" for e in log.read())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(plants)
def test_planted_files_never_hang_escape_or_crash(tmp_path, planted):
    base = tmp_path / f"example-{next(_counter)}"
    try:
        loki, outside = _setup(base)
        directories = sorted(p for p in [loki, *loki.rglob("*")] if p.is_dir() and not p.is_symlink())
        for where, kind, name, data in planted:
            directory = loki / where if isinstance(where, str) else directories[where % len(directories)]
            directory.mkdir(parents=True, exist_ok=True)  # e.g. Loki Mode's audit/, which lokilog never makes
            _plant(directory, kind, name, data, outside)
        before = _tree(outside)
        _bounded("an append and a read", lambda: _append_and_read(loki))
        _bounded("a second append", lambda: _append_and_read(loki))
        _bounded("a watch cycle", lambda: run_once(loki, all_projections()))
        assert _tree(outside) == before
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_the_fuzz_really_plants_under_every_directory():
    with tempfile.TemporaryDirectory() as scratch:
        loki, _ = _setup(Path(scratch))
        names = {str(p.relative_to(loki)) for p in loki.rglob("*") if p.is_dir()}
    assert {"events", "events/log", "events/pending", "events/archive", "events/quarantine", "events/cursors",
            "state", "lokilog/audit", "metrics", "projections"} <= names
