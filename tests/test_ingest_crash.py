"""Exactly once under any interleaving of Loki Mode writes, lokilog ingests, Loki subscribers and kills.

The oracle is the multiset of events the writers meant: a dual write is one event, a repeat of
the same content (a new file or a second identical line) is another. After a final clean
ingest the log must hold exactly that multiset, and every Loki Mode file its original bytes.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

import eventlog.legacy.ingest as ingest_module
from conftest import subprocess_env
from eventlog import FileEventLog, LogSettings
from legacy_fixtures import (
    append_flat, dual_write, flat_line, loki_subscriber_pass, nested, rotate, write_pending,
)


class _Crash(BaseException):
    """Stands for kill -9 at a durable step: nothing after it runs, nothing before is undone."""


class Writers:
    """Loki Mode's writers against one `.loki/`, and what they meant to emit."""

    def __init__(self, loki: Path) -> None:
        self.loki = loki
        self.expected: Counter = Counter()
        self.n = 0
        self.last: tuple | None = None
        self.partial: bytes | None = None
        self.unread = {"current": False, "rotated": False}
        self.files: dict[str, bytes] = {}

    def _content(self) -> tuple[str, dict]:
        self.n += 1
        return f"2026-02-21T10:{self.n // 60 % 60:02d}:{self.n % 60:02d}.{self.n % 1000:03d}Z", {"n": self.n}

    def write(self, kind: str, repeat: bool = False) -> None:
        if repeat and self.last is not None and self.last[0] == kind:
            timestamp, payload = self.last[1], self.last[2]
        else:
            timestamp, payload = self._content()
        self.last = (kind, timestamp, payload)
        self.expected[(timestamp, json.dumps(payload, sort_keys=True))] += 1
        event = nested(uuid.uuid4().hex[:8], "task", "runner", timestamp, payload)
        if kind in ("dual", "flat", "partial"):
            self._finish_partial()
            self.unread["current"] = True
        if kind == "dual":
            path = dual_write(self.loki, event)
        elif kind == "flat":
            append_flat(self.loki, flat_line(timestamp, "task", payload))
            return
        elif kind == "partial":  # a writer stopped mid-line; the next append completes it
            line = flat_line(timestamp, "task", payload)
            append_flat(self.loki, line[: len(line) // 2])
            self.partial = line[len(line) // 2:]
            return
        else:
            path = write_pending(self.loki, event, "pretty" if kind == "file" else "compact")
        self.files[path.name] = path.read_bytes()

    def _finish_partial(self) -> None:
        if self.partial is not None:
            append_flat(self.loki, self.partial)
            self.partial = None

    def rotate(self) -> None:
        # Loki Mode keeps one backup: rotating over unread lines would lose them in Loki Mode too.
        if self.unread["rotated"] or not (self.loki / "events.jsonl").exists():
            return
        self._finish_partial()
        rotate(self.loki)
        self.unread = {"current": False, "rotated": self.unread["current"]}

    def ingested_cleanly(self) -> None:
        if self.partial is None:
            self.unread = {"current": False, "rotated": False}

    def check(self) -> None:
        self._finish_partial()
        clean_ingest(self.loki)
        with FileEventLog(self.loki, settings=LogSettings()) as log:
            stored = list(log.read(ingest=False))
        got = Counter((e.timestamp, json.dumps(e.payload, sort_keys=True)) for e in stored)
        assert got == self.expected
        assert len({e.id for e in stored}) == len(stored)
        for name, data in self.files.items():
            places = [self.loki / "events" / d / name for d in ("pending", "archive")]
            assert [p.read_bytes() for p in places if p.exists()] == [data], name


def clean_ingest(loki: Path):
    with FileEventLog(loki, settings=LogSettings()) as log:
        report = log.ingest_pending()
    assert report.bad == []
    return report


def crashing_ingest(loki: Path, monkeypatch, at: int, after: bool) -> bool:
    """Ingest, dying at the ``at``-th durable step (log write, state commit, a move to archive/)."""
    steps = [0]

    def wrap(real):
        def step(*args, **kwargs):
            steps[0] += 1
            if steps[0] == at and not after:
                raise _Crash()
            result = real(*args, **kwargs)
            if steps[0] == at and after:
                raise _Crash()
            return result
        return step

    with monkeypatch.context() as patch:
        patch.setattr(ingest_module.LegacyState, "apply", wrap(ingest_module.LegacyState.apply))
        patch.setattr(FileEventLog, "_write_locked", wrap(FileEventLog._write_locked))
        patch.setattr(ingest_module, "move", wrap(ingest_module.move))
        log = FileEventLog(loki, settings=LogSettings())
        try:
            log.ingest_pending()
            return False
        except _Crash:
            return True
        finally:
            log.close()


_op = st.one_of(
    st.tuples(st.sampled_from(["dual", "flat", "file", "compact", "partial"]), st.booleans()),
    st.tuples(st.sampled_from(["rotate", "subscriber", "ingest"]), st.just(False)),
    st.tuples(st.just("crash"), st.tuples(st.integers(1, 8), st.booleans())),
)


@settings(max_examples=int(os.environ.get("LOKI_TEST_EXAMPLES", "60")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(_op, max_size=25), batch=st.sampled_from([1, 2, 1000]))
def test_any_interleaving_of_writes_ingests_and_crashes_stores_each_event_once(tmp_path, monkeypatch, ops, batch):
    monkeypatch.setenv("LOKI_EVENTS_INGEST_BATCH", str(batch))
    writers = Writers(tmp_path / uuid.uuid4().hex / ".loki")
    writers.loki.mkdir(parents=True)
    for op, arg in ops:
        if op == "rotate":
            writers.rotate()
        elif op == "subscriber":
            loki_subscriber_pass(writers.loki)
        elif op == "ingest":
            clean_ingest(writers.loki)
            writers.ingested_cleanly()
        elif op == "crash":
            if not crashing_ingest(writers.loki, monkeypatch, *arg):
                writers.ingested_cleanly()
        else:
            writers.write(op, repeat=arg)
    writers.check()


# ------------------------------------------------------------------------- real kill -9


def _populate(loki: Path, writers: Writers, count: int) -> None:
    for n in range(count):
        writers.write(("dual", "flat", "file", "compact")[n % 4], repeat=(n % 7 == 6))


def _kill_when_started(loki: Path, threshold: int, env: dict) -> int:
    """Run `lokilog ingest`; kill -9 it once the log passes ``threshold`` bytes (or it ends)."""
    proc = subprocess.Popen([sys.executable, "-m", "commands", "ingest"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if _log_bytes(loki) >= threshold:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.002)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
    return proc.returncode


def _log_bytes(loki: Path) -> int:
    try:
        return sum(p.stat().st_size for p in (loki / "events" / "log").iterdir())
    except FileNotFoundError:
        return 0


def test_kill_9_during_real_ingests_then_a_clean_run_stores_each_event_once(loki):
    writers = Writers(loki)
    loki.mkdir(parents=True)
    _populate(loki, writers, 600)
    env = subprocess_env(LOKI_DIR=str(loki), LOKI_EVENTS_INGEST_BATCH="7")
    kills = 0
    for threshold in range(1, 140_000, 9_000):
        if _kill_when_started(loki, threshold, env) == -signal.SIGKILL:
            kills += 1
        if threshold == 45_001:  # Loki Mode keeps writing between the kills
            _populate(loki, writers, 150)
    assert kills >= 3
    writers.check()


def test_ingest_beside_live_emit_sh_writers_and_a_loki_subscriber(loki):
    """Real bash emitters, a Loki Mode subscriber process and lokilog ingests, all at once."""
    from legacy_fixtures import EMIT_SH

    loki.mkdir(parents=True)
    env = {**os.environ, "LOKI_DIR": str(loki)}
    subscriber = subprocess.Popen([sys.executable, "-c", _SUBSCRIBER, str(loki), str(Path(__file__).parent)], env=env)
    emitters = [subprocess.Popen(["bash", "-c", f'for i in $(seq 1 25); do bash "{EMIT_SH}" task hook done w={w} i=$i >/dev/null; done'],
                                 env=env) for w in range(2)]
    try:
        with FileEventLog(loki, settings=LogSettings()) as log:
            while any(p.poll() is None for p in emitters):
                log.ingest_pending()
        for p in emitters:
            assert p.wait(timeout=60) == 0
    finally:
        subscriber.terminate()
        subscriber.wait(timeout=30)
        for p in emitters:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=30)
    clean_ingest(loki)
    with FileEventLog(loki, settings=LogSettings()) as log:
        stored = list(log.read(ingest=False))
    assert sorted((e.payload["w"], int(e.payload["i"])) for e in stored) == [(w, i) for w in "01" for i in range(1, 26)]
    assert {e.source for e in stored} == {"hook"}


_SUBSCRIBER = """
import json, signal, sys, threading
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from legacy_fixtures import loki_subscriber_pass
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
while not stop.wait(0.005):
    loki_subscriber_pass(Path(sys.argv[1]))
"""


def test_ingest_beside_a_node_writer_that_writes_files_in_place(loki):
    """bus.ts writes each file in place: an ingest may read one half written, report it, and
    must read it again once it is whole."""
    import shutil

    from legacy_fixtures import REPO

    node = shutil.which("node")
    if node is None:
        import pytest

        pytest.skip("node is not installed")
    loki.mkdir(parents=True)
    writer = subprocess.Popen([node, str(REPO / "tests" / "fixtures" / "loki_bus_writer.js"), str(loki), "150", "w"])
    seen_bad = 0
    try:
        with FileEventLog(loki, settings=LogSettings()) as log:
            while writer.poll() is None:
                seen_bad += len(log.ingest_pending().bad)
        assert writer.wait(timeout=60) == 0
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait(timeout=30)
    clean_ingest(loki)
    with FileEventLog(loki, settings=LogSettings()) as log:
        # A file caught half-written in place is refused once (recorded as an ingest event), then
        # read whole when it changes.
        stored = [e for e in log.read(ingest=False) if e.type != "ingest"]
    assert sorted(e.payload["n"] for e in stored) == list(range(150))
    assert {e.source for e in stored} == {"vscode"}
    assert len(list((loki / "events" / "pending").glob("*.json"))) == 150  # stored, and left for Loki Mode
