"""A Python writer for the torture scenarios: appends events and acknowledges each on stdout.

    writer.py ROOT TAG COUNT [--start N] [--ids] [--batch K] [--skew SECONDS] [--same-ts TS]

Prints ``ACK <id> <seq|pending> <seconds the call took>`` only after the append returned,
``ERR <id> <error class> <message>`` when it raised. COUNT 0 writes until killed. With
``--ids`` the ids are ``TAG-<n>`` from ``--start``, so a restarted writer can re-send the
event it was killed in the middle of (the retry must not duplicate it).
"""
from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from eventlog import EventLogError, FileEventLog, NewEvent  # noqa: E402
from eventlog.events import format_timestamp  # noqa: E402


def _options(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("root")
    parser.add_argument("tag")
    parser.add_argument("count", type=int)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--ids", action="store_true")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--skew", type=float, default=0.0, help="shift this writer's clock by SECONDS")
    parser.add_argument("--same-ts", default=None, help="stamp every event with this timestamp")
    parser.add_argument("--payload-bytes", type=int, default=0)
    return parser.parse_args(argv)


def _timestamp(opts) -> str | None:
    if opts.same_ts:
        return opts.same_ts
    if opts.skew:
        return format_timestamp(datetime.now(timezone.utc) + timedelta(seconds=opts.skew))
    return None


def _draft(opts, n: int) -> NewEvent:
    return NewEvent(
        type="task", source=f"torture-{opts.tag}", payload={"n": n, "pad": "x" * opts.payload_bytes},
        id=f"{opts.tag}-{n}" if opts.ids else None, timestamp=_timestamp(opts),
    )


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(argv=None) -> int:
    opts = _options(argv)
    numbers = itertools.count(opts.start) if opts.count == 0 else iter(range(opts.start, opts.start + opts.count))
    parent = os.getppid()
    with FileEventLog(opts.root) as log:
        while True:
            if os.getppid() != parent:
                return 0  # the suite died: never outlive the caller (a Loki Mode lesson)
            batch = [_draft(opts, n) for n in itertools.islice(numbers, opts.batch)]
            if not batch:
                return 0
            started = time.monotonic()
            try:
                if len(batch) == 1 and batch[0].id is None and batch[0].timestamp is None:
                    receipts = [log.append(batch[0].type, batch[0].source, batch[0].payload)]
                else:
                    receipts = log.append_many(batch)
            except EventLogError as exc:
                _say(f"ERR {batch[0].id or '-'} {type(exc).__name__} {str(exc).splitlines()[0]}")
                continue
            took = time.monotonic() - started
            for receipt in receipts:
                _say(f"ACK {receipt.id} {receipt.seq if receipt.seq else 'pending'} {took:.4f}")


if __name__ == "__main__":
    sys.exit(main())
