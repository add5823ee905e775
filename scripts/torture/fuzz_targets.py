"""Every parser that reads bytes from disk or from a user, as a function of one byte string.

Each target must return or raise an EventLogError (the clear, typed error every caller maps
to a message and an exit code); anything else escaping is a crash. Shared by the hypothesis
fuzzer (fuzz.py) and the coverage-guided one (fuzz_atheris.py).
"""
from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from eventlog import FileEventLog  # noqa: E402
from eventlog.codec import check_timestamp, decode_chunk, decode_event, decode_raw, iter_lines  # noqa: E402
from eventlog.errors import EventLogError  # noqa: E402

# A fuzzing child (atheris exits without running atexit) gets its scratch from its parent.
_SCRATCH = Path(os.environ.get("LOKILOG_FUZZ_SCRATCH") or tempfile.mkdtemp(prefix="lokilog-fuzz-"))
if "LOKILOG_FUZZ_SCRATCH" not in os.environ:
    atexit.register(shutil.rmtree, _SCRATCH, True)
VALID_LINE = (b'{"seq":1,"id":"a1","type":"task","source":"runner","timestamp":"2026-01-01T00:00:00.000Z",'
              b'"version":"1.0","payload":{"action":"start","task_id":"t1"}}')


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def log_line(data: bytes) -> None:
    decode_event(data)


def log_line_raw(data: bytes) -> None:
    decode_raw(data)


def log_chunk(data: bytes) -> None:
    for _ in iter_lines(data):
        pass
    decode_chunk(data)
    decode_chunk(data, raw=True)


def segment_tail(data: bytes) -> None:
    """The bytes as the end of the active segment: recovery cuts what is not a next event."""
    with tempfile.TemporaryDirectory(dir=_SCRATCH) as scratch:
        root = Path(scratch) / ".loki"
        (root / "events" / "log").mkdir(parents=True)
        (root / "events" / "log" / "00000000000000000001.jsonl").write_bytes(VALID_LINE + b"\n" + data)
        with FileEventLog(root) as log:
            log.recover()
            seqs = [e.seq for e in log.read()]
            if seqs != list(range(1, len(seqs) + 1)):
                raise AssertionError(f"after recovery the seqs are {seqs}")
            log.append("task", "fuzz")


def pending_file(data: bytes) -> None:
    from eventlog.pending import read_pending

    handle, name = tempfile.mkstemp(dir=_SCRATCH, suffix=".json")
    os.close(handle)
    path = Path(name)
    try:
        path.write_bytes(data)
        read_pending(path)
    finally:
        path.unlink()


def cli_payload(data: bytes) -> None:
    from commands.payloads import build_payload

    text = _text(data)
    build_payload(text, pairs=text.split("\n")[1:3])


def cli_pair(data: bytes) -> None:
    from commands.payloads import parse_pair

    parse_pair(_text(data))


def timestamp(data: bytes) -> None:
    check_timestamp(_text(data))


def policy_yaml(data: bytes) -> None:
    from commands.policy.loader import parse_policies

    parse_policies(data)


def policy_json(data: bytes) -> None:
    from commands.policy.loader import parse_policies

    parse_policies(data, json_format=True)


def cost_config(data: bytes) -> None:
    from eventlog.settings_files import SUFFIXES, parse

    for suffix in SUFFIXES:
        try:
            parse(Path("policies" + suffix), _text(data))
        except EventLogError:
            pass


def audit_chain(data: bytes) -> None:
    from projections.audit.verify import verify_lines

    verify_lines(data.split(b"\n"))


def flat_line(data: bytes) -> None:
    from eventlog.legacy.parse import complete_lines, parse_flat, salvage

    for line in data.split(b"\n"):
        salvage(line)
        parse_flat(line)
    complete_lines(data, 0)


def loki_mode_file(data: bytes) -> None:
    from eventlog.legacy.parse import parse_file

    parse_file("2026-01-01T00-00-00.000Z_abc.json", data)


def loki_dir_ingest(data: bytes) -> None:
    """The bytes as Loki Mode's flat log and a drop-box file, ingested by a lock holder."""
    with tempfile.TemporaryDirectory(dir=_SCRATCH) as scratch:
        root = Path(scratch) / ".loki"
        (root / "events" / "pending").mkdir(parents=True)
        (root / "events.jsonl").write_bytes(data)
        (root / "events" / "pending" / "2026-01-01T00-00-00.000Z_fz.json").write_bytes(data)
        with FileEventLog(root) as log:
            log.ingest_pending(timeout=5)
            seqs = [e.seq for e in log.read()]
            if seqs != list(range(1, len(seqs) + 1)):
                raise AssertionError(f"after ingest the seqs are {seqs}")


TARGETS: dict[str, Callable[[bytes], None]] = {
    "flat line": flat_line, "Loki Mode file": loki_mode_file, "Loki Mode .loki/ ingest": loki_dir_ingest,
    "log line": log_line, "log line (raw)": log_line_raw, "log chunk": log_chunk,
    "segment tail": segment_tail, "pending file": pending_file, "CLI payload": cli_payload,
    "CLI key=value": cli_pair, "timestamp": timestamp, "policy file (YAML)": policy_yaml,
    "policy file (JSON)": policy_json, "budgets/prices file": cost_config, "audit chain": audit_chain,
}

#: Valid inputs the fuzzers mutate, so they reach past the first byte check.
_FLAT = b'{"timestamp":"2026-01-01T00:00:00.000Z","type":"session_start","data":{"source":"runner","id":"r1"}}'
_FILE = b'{"id":"ab12cd34","type":"task","source":"hook","timestamp":"2026-01-01T00:00:00Z","payload":{"action":"x"},"version":"1.0"}'
SEEDS: dict[str, list[bytes]] = {
    "flat line": [_FLAT + b"\n" + _FLAT], "Loki Mode file": [_FILE], "Loki Mode .loki/ ingest": [_FLAT + b"\n", _FILE],
    "log line": [VALID_LINE], "log line (raw)": [VALID_LINE], "log chunk": [VALID_LINE + b"\n" + VALID_LINE],
    "segment tail": [VALID_LINE.replace(b'"seq":1', b'"seq":2') + b"\n"],
    "pending file": [b'{"id":"x1","type":"task","source":"hook","timestamp":"2026-01-01T00:00:00Z","payload":{}}'],
    "CLI payload": [b'{"a": 1}\nk=v\nn:=[1,2]'], "CLI key=value": [b"k:=1", b"k=v"],
    "timestamp": [b"2026-01-01T00:00:00.000Z", b"2026-01-01T00:00:00+05:30"],
    "policy file (YAML)": [b"policies:\n  pre_execution:\n    - name: x\n      rule: \"true\"\n      action: deny\n"],
    "policy file (JSON)": [b'{"policies": {"pre_execution": [{"name": "x", "rule": "true", "action": "deny"}]}}'],
    "budgets/prices file": [b"budgets:\n  - name: b\n    limit_usd: 5\n"],
    "audit chain": [b'{"seq":1,"previousHash":"GENESIS","hash":"sha256:' + b"0" * 64 + b'"}'],
}


def call(name: str, data: bytes) -> str | None:
    """Run one target on one input; return a crash description, or None if it behaved."""
    try:
        TARGETS[name](data)
    except EventLogError:
        return None
    except RecursionError:
        return "RecursionError"
    except Exception as exc:  # anything else escaping a parser is a crash
        return f"{type(exc).__name__}: {exc}"[:300]
    return None
