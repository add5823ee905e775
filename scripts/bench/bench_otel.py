"""Benchmark OpenTelemetry export: spans/s from a log to a collector, beside encoding alone.

Builds a log of sessions, tasks, RARV phases, gates, agents and token usage; then
- export: the exporter from seq 1 (read, fold, encode protobuf, POST in batches of 100) to a
  receiver on 127.0.0.1 that accepts every body without decoding it;
- encoding alone (the baseline, same run): protobuf encoding of the same spans in the same
  batches, nothing read, folded or sent.
Prints JSON with medians over repeats and the ratio of the two.

    python3 scripts/bench/bench_otel.py [--events 1000000] [--repeats 3]
"""
from __future__ import annotations

import argparse
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from common import emit, scratch_dir

from eventlog import FileEventLog, LogSettings
from subscribers.otel import spans as span_fold
from subscribers.otel.encode import to_bytes, trace_request
from subscribers.otel.exporter import OtelExporter
from subscribers.otel.settings import OtelSettings

PER_TASK = 6  # task started, phase, tokens, gate, task completed, plus one in ten agent events


def build(loki: Path, events: int) -> int:
    with FileEventLog(loki, settings=LogSettings()) as log:
        batch, written, task = [], 0, 0
        session = "s-0"
        batch.append({"type": "session", "source": "runner", "payload": {"action": "start", "session_id": session}})
        while written + len(batch) < events - 1:
            task += 1
            tid = f"task-{task}"
            batch += [
                {"type": "task", "source": "runner", "payload": {"action": "started", "task_id": tid}},
                {"type": "state", "source": "runner", "payload": {"action": "phase", "phase": "ACT"}},
                {"type": "metric", "source": "runner", "payload": {"action": "token_usage", "model": "m",
                                                                   "input_tokens": 100, "output_tokens": 20}},
                {"type": "quality", "source": "runner", "payload": {"action": "gate", "gate": "unit", "result": "pass",
                                                                    "task_id": tid}},
                {"type": "task", "source": "runner", "payload": {"action": "completed", "task_id": tid,
                                                                 "duration_ms": 1200}},
            ]
            if len(batch) >= 10_000:
                log.append_many(batch, durability="never")
                written += len(batch)
                batch = []
        batch.append({"type": "session", "source": "runner", "payload": {"action": "end", "session_id": session}})
        log.append_many(batch, durability="never")
        return log.head_seq


class _Sink(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


def export_once(loki: Path, settings: OtelSettings) -> int:
    (loki / "events" / "cursors" / "otel.json").unlink(missing_ok=True)
    exporter = OtelExporter(loki, settings)
    try:
        with FileEventLog(loki) as log:
            return exporter.drain(log, force=True)
    finally:
        exporter.close()


def finished_spans(loki: Path, settings: OtelSettings) -> list:
    state, out = span_fold.initial_state(settings.project_id), []
    with FileEventLog(loki) as log:
        for batch in log.read_batches():
            for event in batch:
                out += span_fold.apply(state, event)
    return out


def encode_only(found: list, settings: OtelSettings) -> int:
    for start in range(0, len(found), settings.batch_size):
        to_bytes(trace_request(found[start:start + settings.batch_size], settings), settings)
    return len(found)


def timed(run) -> tuple[float, int]:
    started = time.perf_counter()
    count = run()
    return time.perf_counter() - started, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with scratch_dir("lokilog-bench-otel-") as scratch:
            loki = scratch / ".loki"
            total = build(loki, args.events)
            url = f"http://127.0.0.1:{server.server_address[1]}"
            settings = OtelSettings.from_env({"LOKI_OTEL_ENDPOINT": url}, loki)
            found = finished_spans(loki, settings)
            export_rates, encode_rates = [], []
            for _ in range(args.repeats):
                seconds, count = timed(lambda: export_once(loki, settings))
                assert count == len(found), (count, len(found))
                export_rates.append(count / seconds)
                seconds, count = timed(lambda: encode_only(found, settings))
                encode_rates.append(count / seconds)
    finally:
        server.shutdown()
        server.server_close()
    export_rate, encode_rate = statistics.median(export_rates), statistics.median(encode_rates)
    emit({
        "events": total, "spans": len(found), "repeats": args.repeats,
        "export_spans_per_s": round(export_rate),
        "export_events_per_s": round(export_rate * total / len(found)),
        "baseline_encode_only_spans_per_s": round(encode_rate),
        "export_time_vs_encode_only": round(encode_rate / export_rate, 2),
    })


if __name__ == "__main__":
    main()
