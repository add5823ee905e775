"""Crash scrubber throughput, next to the shared detectors alone (eventlog.redaction.secrets.redact) on the same text.

Prints JSON: medians over repeated runs of MB/s for a typical traceback with secrets, ordinary
log text, and one worst case (a dense run of key headers), and the ratio to the shared set.
"""
from __future__ import annotations

import argparse

from common import emit, median_rate

from eventlog.redaction.scrub import build_payload, scrub_text
from eventlog.redaction.secrets import DEFAULT_DETECTORS, redact

TRACE = (
    "Traceback (most recent call last):\n"
    '  File "/home/jane/proj/commands/cli.py", line 88, in main\n    app()\n'
    '  File "/home/jane/proj/commands/log_cli.py", line 12, in emit\n    body = build(text)\n'
    "ValueError: cannot reach 10.1.2.3 as jane@example.com with sk-ant-api03-" + "Qz7" * 14
    + " password=hunter2 Authorization: Bearer abcdefghijklmnop1234\n"
)
PROSE = "task t-42 finished in 1200 ms after 3 retries; gate unit-tests passed, 17 files changed\n"
KEYS = "-----BEGIN PRIVATE KEY-----"


def rate(text: str, fn) -> float:
    def run() -> int:
        for _ in range(20):
            fn(text)
        return 20 * len(text)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    results = {}
    for name, text in (("traceback", TRACE * 40), ("prose", PROSE * 400), ("key_headers", KEYS * 1200)):
        ours = median_rate(rate(text, scrub_text), args.repeats) / 1e6
        shared = median_rate(rate(text, lambda t: redact(t, DEFAULT_DETECTORS)), args.repeats) / 1e6
        results[name] = {"bytes": len(text), "scrub_mb_per_s": round(ours, 2),
                         "shared_redact_mb_per_s": round(shared, 2), "ratio_to_shared": round(ours / shared, 3)}
    payloads = median_rate(lambda: [build_payload({"error_class": "ValueError", "stack": TRACE, "message": TRACE},
                                                  "2026-02-21T10:00:00Z") for _ in range(200)] and 200,
                           args.repeats)
    results["build_payload_per_s"] = round(payloads)
    emit(results)


if __name__ == "__main__":
    main()
