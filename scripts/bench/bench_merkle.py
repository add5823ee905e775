"""Benchmark the audit Merkle tree: appending (target > 100 000 entries/s) and proofs on a 10M-entry tree (target < 1 ms).

Usage: python3 scripts/bench/bench_merkle.py [--tree-size 10000000] [--entries 200000] [--repeat 5] [--proofs 2000]

Prints one JSON object. The baseline, measured in the same run over the same entry bytes, is
bare hashlib.sha256 of each entry in a plain Python loop: appending pays that (the leaf hash)
plus about one node hash per entry and the node store's writes. ``projection_fold`` also
derives each event's audit entry (as the chain's own projection does), so it is bounded by that. Rates are medians over the
repeats; proof times are medians (and 99th percentiles) over random leaves and sizes. The large
tree is built straight through the node store's append API, not through the event log.
"""
from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import time

from common import emit, median_rate, scratch_dir

from eventlog import Event
from projections.audit import AuditSettings
from projections.audit.merkle.projection import MerkleProjection
from projections.audit.merkle.store import NodeStore
from projections.audit.merkle.tree import Frontier, verify_consistency, verify_inclusion


def entries(count: int, start: int = 0) -> list[bytes]:
    """Audit-entry-shaped lines of about 400 bytes, distinct per index."""
    return [(b'{"seq":%d,"timestamp":"2026-02-21T10:00:00.000Z","who":"agent-%d","what":"task.completed",'
             b'"where":"src/module_%d.py","why":null,"metadata":{"eventHash":"sha256:%064x","eventId":"%032x",'
             b'"payload":{"action":"completed","task_id":"t%d"},"source":"runner","type":"task"},'
             b'"previousHash":"sha256:%064x","hash":"sha256:%064x"}') % (i, i % 8, i % 100, i, i, i, i * 7, i * 11)
            for i in range(start, start + count)]


def build_large(directory, size: int) -> float:
    """Append ``size`` leaves through the store; return the seconds it took."""
    sha = hashlib.sha256
    started = time.perf_counter()
    with NodeStore(directory, writable=True) as store:
        for start in range(0, size, 100_000):
            for i, entry in enumerate(entries(min(100_000, size - start), start), start):
                store.append(sha(b"\x00" + entry).digest(), i + 1)
        store.flush(seq=size, chain_head="GENESIS")
    return time.perf_counter() - started


def proof_times(directory, size: int, count: int) -> dict:
    rng = random.Random(25)
    sha = hashlib.sha256
    timings = {"inclusion": [], "consistency": [], "inclusion_verify": [], "open_and_prove": []}
    with NodeStore(directory) as store:
        root = store.root()
        for _ in range(count):
            index = rng.randrange(size)
            started = time.perf_counter()
            path = store.inclusion(index)
            timings["inclusion"].append(time.perf_counter() - started)
            leaf = sha(b"\x00" + entries(1, index)[0]).digest()
            started = time.perf_counter()
            verify_inclusion(index, size, leaf, path, root)
            timings["inclusion_verify"].append(time.perf_counter() - started)
            old = rng.randrange(1, size)
            started = time.perf_counter()
            path = store.consistency(old)
            timings["consistency"].append(time.perf_counter() - started)
            verify_consistency(old, size, store.root(old), root, path)
    for _ in range(min(count, 200)):  # a fresh reader, as `lokilog audit prove` is
        index = rng.randrange(size)
        started = time.perf_counter()
        with NodeStore(directory) as fresh:
            fresh.inclusion(index)
        timings["open_and_prove"].append(time.perf_counter() - started)
    return {name: {"median_ms": round(statistics.median(t) * 1000, 4),
                   "p99_ms": round(sorted(t)[int(len(t) * 0.99) - 1] * 1000, 4)} for name, t in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree-size", type=int, default=10_000_000)
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--proofs", type=int, default=2000)
    args = parser.parse_args()
    batch = entries(args.entries)
    sha = hashlib.sha256

    def baseline() -> int:
        for entry in batch:
            sha(entry).digest()
        return len(batch)

    def frontier() -> int:  # the projection's state: leaf hash plus O(log n) merges, no I/O
        tree = Frontier()
        for entry in batch:
            tree.append(sha(b"\x00" + entry).digest())
        return len(batch)

    events = [Event(seq=i, id=f"{i:032x}", type="task", source="runner", timestamp="2026-02-21T10:00:00.000Z",
                    version="1.0", payload={"action": "completed", "task_id": f"t{i}", "agent_id": f"agent-{i % 8}",
                                            "path": f"src/module_{i % 100}.py"}) for i in range(1, min(len(batch), 50_000) + 1)]

    def projection() -> int:  # the whole fold: derive each event's entry line, then the leaf and the frontier
        merkle = MerkleProjection(AuditSettings())
        state = merkle.initial()
        for event in events:
            state = merkle.apply(state, event)
        return len(events)

    with scratch_dir("bench-merkle-") as scratch:
        runs = iter(range(args.repeat * 2))

        def store_append() -> int:  # leaf hash, nodes, node files written and fsynced
            with NodeStore(scratch / f"append-{next(runs)}", writable=True) as store:
                for seq, entry in enumerate(batch, 1):
                    store.append(sha(b"\x00" + entry).digest(), seq)
                store.flush(seq=len(batch), chain_head="GENESIS")
            return len(batch)

        rates = {name: round(median_rate(fn, args.repeat)) for name, fn in
                 [("baseline_sha256", baseline), ("frontier_append", frontier), ("store_append", store_append),
                  ("projection_fold", projection)]}
        large = scratch / "large"
        build_s = build_large(large, args.tree_size)
        proofs = proof_times(large, args.tree_size, args.proofs)
    base = rates["baseline_sha256"]
    emit({
        "entries": args.entries, "repeat": args.repeat, "entry_bytes": len(batch[0]),
        "rates_per_s": rates,
        "cost_vs_sha256": {name: round(base / rate, 2) for name, rate in rates.items() if name != "baseline_sha256"},
        "large_tree": {"size": args.tree_size, "build_s": round(build_s, 1), "build_rate_per_s": round(args.tree_size / build_s)},
        "proofs": proofs,
        "targets": {"append_over_100k_per_s": rates["store_append"] > 100_000,
                    "proof_under_1ms": proofs["inclusion"]["median_ms"] < 1 and proofs["consistency"]["median_ms"] < 1},
    })


if __name__ == "__main__":
    main()
