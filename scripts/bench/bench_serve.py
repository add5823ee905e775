"""Benchmark `lokilog serve` on 127.0.0.1: live-tail latency, replay pages from a large log, many SSE clients.

Three figures, each next to a baseline measured in the same run:

1. emit -> SSE: another process appends events one at a time (what `lokilog emit` does once its
   interpreter is up) and records when each append was acknowledged; an SSE client records
   when the event arrived. p50/p99/max in ms. Baseline: a same-host follower polling the log
   directly every 5 ms (the best a local `tail -f` can do). Target: p99 < 50 ms.
2. GET /api/events?limit=1000 from a log of --log-events events (1 000 000 by default), pages
   at the start, middle and end of the log; median over --repeat requests. Baseline: the same
   read through the library in this process. Target: < 50 ms.
3. --clients SSE clients (200) held for --hold seconds (30) while events are appended at
   --rate per second; every client must receive every event, in order, once. Bounded: each
   client stops at the end of the hold plus a grace period.

    python3 scripts/bench/bench_serve.py [--log-events 1000000] [--clients 200] [--hold 30]

Prints one JSON object. Needs the serve extra and httpx (pip install -e '.[serve-test]').
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import selectors
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from common import ROOT, emit, scratch_dir

import httpx

from eventlog import Durability, FileEventLog, LogSettings, NewEvent

APPENDER = r"""
import sys, time, json
from eventlog import FileEventLog
root, count, interval = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
acked = {}
with FileEventLog(root) as log:
    for i in range(count):
        receipt = log.append("bench", "runner", {"n": i})
        acked[receipt.seq] = time.time_ns()
        time.sleep(interval)
print(json.dumps(acked))
"""


def start_server(loki: Path, token_env: str, lifetime: float):
    env = dict(os.environ, PYTHONPATH=str(ROOT), LOKI_DIR=str(loki), LOKILOG_SERVE_TOKENS=token_env,
               LOKILOG_SERVE_RATE_CLIENT="100000/100000", LOKILOG_SERVE_RATE_TOKEN="100000/100000")
    process = subprocess.Popen([sys.executable, "-m", "commands", "serve", "--port", "0", "--json",
                                "--duration", str(lifetime)], env=env, stdout=subprocess.PIPE, text=True)
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    if not selector.select(timeout=60):
        process.kill()
        raise SystemExit("lokilog serve did not start within 60 s")
    return process, json.loads(process.stdout.readline())["url"]


def stop_server(process) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def percentiles(values: list[float]) -> dict:
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]
    return {"p50_ms": round(pick(0.50), 2), "p99_ms": round(pick(0.99), 2), "max_ms": round(ordered[-1], 2),
            "samples": len(ordered)}


def run_appender(loki: Path, count: int, interval: float) -> dict[int, int]:
    done = subprocess.run([sys.executable, "-c", APPENDER, str(loki), str(count), str(interval)],
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True, timeout=600)
    if done.returncode:
        raise SystemExit(done.stderr)
    return {int(k): v for k, v in json.loads(done.stdout).items()}


# ------------------------------------------------------------------ 1. emit -> SSE

def sse_latency(loki: Path, url: str, token: str, count: int) -> dict:
    arrived: dict[int, int] = {}
    ready, stop = threading.Event(), threading.Event()

    def listen():
        with httpx.stream("GET", f"{url}/api/events/stream", headers={"Authorization": f"Bearer {token}"},
                          timeout=httpx.Timeout(30, read=30)) as response:
            ready.set()
            for line in response.iter_lines():
                if line.startswith("data: "):
                    arrived[json.loads(line[6:])["seq"]] = time.time_ns()
                if stop.is_set() or len(arrived) >= count:
                    return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    ready.wait(30)
    time.sleep(0.3)
    acked = run_appender(loki, count, 0.01)
    deadline = time.monotonic() + 10
    while len(arrived) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    missing = [s for s in acked if s not in arrived]
    figures = percentiles([(arrived[s] - t) / 1e6 for s, t in acked.items() if s in arrived])
    return {**figures, "missing": len(missing)}


def poll_baseline(loki: Path, count: int) -> dict:
    arrived: dict[int, int] = {}
    stop = threading.Event()
    with FileEventLog(loki) as log:
        after = log.head_seq

        def follow():
            nonlocal after
            while not stop.wait(0.005):
                for event in log.read(after + 1, ingest=False):
                    arrived[event.seq] = time.time_ns()
                    after = event.seq

        thread = threading.Thread(target=follow, daemon=True)
        thread.start()
        acked = run_appender(loki, count, 0.01)
        time.sleep(0.5)
        stop.set()
        thread.join(5)
    return percentiles([(arrived[s] - t) / 1e6 for s, t in acked.items() if s in arrived])


# ------------------------------------------------------------------ 2. replay pages from a large log

def build_log(loki: Path, total: int) -> float:
    started = time.perf_counter()
    with FileEventLog(loki, settings=LogSettings(durability=Durability.NEVER)) as log:
        batch = 20_000
        for first in range(0, total, batch):
            log.append_many([NewEvent(type="task", source="runner",
                                      payload={"action": "started", "task_id": f"t{(first + i) % 500}", "n": first + i})
                             for i in range(min(batch, total - first))])
        log.sync()
    return time.perf_counter() - started


def page_times(loki: Path, url: str, token: str, total: int, repeats: int) -> dict:
    out = {}
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client, \
            FileEventLog(loki) as log:
        started = time.perf_counter()
        while client.get("/api/health").json()["indexed_seq"] < total:  # the server indexes in steps
            if time.perf_counter() - started > 300:
                raise SystemExit("the server did not index the log within 300 s")
            time.sleep(0.2)
        out["indexed_s"] = round(time.perf_counter() - started, 1)
        for name, cursor in (("start", 0), ("middle", total // 2), ("end", total - 1000)):
            client.get("/api/events", params={"cursor": cursor, "limit": 1000}).raise_for_status()  # warm
            http, lib = [], []
            for _ in range(repeats):
                started = time.perf_counter()
                response = client.get("/api/events", params={"cursor": cursor, "limit": 1000})
                body = response.content  # the response is complete here; decoding it is the client's cost
                http.append((time.perf_counter() - started) * 1000)
                page = json.loads(body)
                assert len(page["events"]) == 1000 and page["events"][0]["seq"] == cursor + 1
                started = time.perf_counter()
                events = [e.to_dict() for e in log.read(cursor + 1, cursor + 1000, ingest=False)]
                lib.append((time.perf_counter() - started) * 1000)
                assert len(events) == 1000
            out[name] = {"http_median_ms": round(statistics.median(http), 2),
                         "library_median_ms": round(statistics.median(lib), 2),
                         "ratio": round(statistics.median(http) / statistics.median(lib), 2)}
    return out


# ------------------------------------------------------------------ 3. many SSE clients

async def _client(url: str, token: str, after: int, until: float, expected: list[int], seen: list[int]) -> None:
    headers = {"Authorization": f"Bearer {token}", "Last-Event-ID": str(after)}
    timeout = httpx.Timeout(10, read=max(until - time.monotonic(), 1) + 10)
    async with httpx.AsyncClient(timeout=timeout) as client:
        async with client.stream("GET", f"{url}/api/events/stream", headers=headers) as response:
            async for line in response.aiter_lines():
                if line.startswith("id: "):
                    seen.append(int(line[4:]))
                if (expected and seen and seen[-1] >= expected[-1]) or time.monotonic() > until + 15:
                    return


async def _hold(url: str, token: str, after: int, clients: int, hold: float, rate: float, loki: Path) -> dict:
    until = time.monotonic() + hold
    expected: list[int] = []
    seen = [[] for _ in range(clients)]
    tasks = [asyncio.create_task(_client(url, token, after, until, expected, s)) for s in seen]
    await asyncio.sleep(1.0)
    appender = asyncio.create_task(asyncio.to_thread(run_appender, loki, max(1, int((hold - 2) * rate)), 1 / rate))
    acked = await appender
    expected.extend(sorted(acked))
    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=hold + 60)
    complete = sum(1 for s in seen if s == expected)
    return {"clients": clients, "held_s": hold, "events": len(expected), "clients_with_every_event_in_order": complete,
            "events_missed": sum(len(set(expected) - set(s)) for s in seen),
            "duplicates": sum(len(s) - len(set(s)) for s in seen)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log-events", type=int, default=1_000_000)
    parser.add_argument("--latency-events", type=int, default=300)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--hold", type=float, default=30)
    parser.add_argument("--rate", type=float, default=20, help="Events per second during the hold.")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--only", choices=("live", "replay"), help="Run one half only.")
    args = parser.parse_args()
    token = "bench-" + os.urandom(16).hex()
    results: dict = {"benchmark": "serve", "python": sys.version.split()[0], "cores": os.cpu_count(),
                     "load_average_1m": round(os.getloadavg()[0], 2)}
    with scratch_dir("lokilog-bench-serve-") as scratch:
        if args.only != "replay":
            results.update(live_figures(scratch, token, args))
        if args.only != "live":
            results["replay"] = replay_figures(scratch, token, args)
    emit(results)


def live_figures(scratch: Path, token: str, args) -> dict:
    results = {}
    small = scratch / "small" / ".loki"
    FileEventLog(small).append("session", "runner", {"action": "start", "session_id": "bench"})
    process, url = start_server(small, f"read:{token}", 3600)
    try:
        results["emit_to_sse"] = sse_latency(small, url, token, args.latency_events)
        results["emit_to_sse"]["baseline_poll_5ms"] = poll_baseline(small, args.latency_events)
        results["emit_to_sse"]["ratio_p99"] = round(
            results["emit_to_sse"]["p99_ms"] / max(results["emit_to_sse"]["baseline_poll_5ms"]["p99_ms"], 0.01), 2)
        with FileEventLog(small) as log:
            after = log.head_seq
        results["sse_clients"] = asyncio.run(_hold(url, token, after, args.clients, args.hold, args.rate, small))
    finally:
        stop_server(process)
    return results


def replay_figures(scratch: Path, token: str, args) -> dict:
    big = scratch / "big" / ".loki"
    results = {"log_events": args.log_events, "build_s": round(build_log(big, args.log_events), 1)}
    process, url = start_server(big, f"read:{token}", 3600)
    try:
        results["pages_of_1000"] = page_times(big, url, token, args.log_events, args.repeat)
    finally:
        stop_server(process)
    return results


if __name__ == "__main__":
    main()
