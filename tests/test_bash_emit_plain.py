"""The bash emitter's plain route (type, source, action, key=value in plain ASCII, built before
the option parser and the JSON checks are read) stores exactly what the full route stores, and
hands everything it does not decide to the full route.

`--` before the positionals is an option, so it always takes the full route: the same
arguments behind it are the reference. A copy of the script whose end is cut off shows the
plain route never reads the rest of the file.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from eventlog import FileEventLog
from eventlog.verify import verify_log
from tests.clients import BASH_EMIT, bash_emit, emit_env

pytestmark = pytest.mark.skipif(shutil.which("flock") is None, reason="flock(1) is not installed")

# Printable ASCII with the characters JSON must escape, and some that are not ASCII at all.
TEXT = st.text(st.sampled_from(list('ab Z09=:-_."\\/é\t')), max_size=6)
PAIR = st.tuples(TEXT, st.sampled_from(["=", ":="]), TEXT).map("".join)


def _events(loki: Path) -> list[dict]:
    with FileEventLog(loki) as log:
        return [e.to_dict() for e in log.read()]


def _stored_fields(event: dict) -> tuple:
    return event["type"], event["source"], event["payload"], event["version"], event.get("stream")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=TEXT, source=TEXT, action=TEXT, pairs=st.lists(PAIR, max_size=3))
def test_the_plain_route_stores_what_the_full_route_stores(tmp_path_factory, kind, source, action, pairs):
    args = [kind, source, action, *pairs]
    assume(not any(a.startswith("--") for a in args))  # an option before `--`, a positional after it
    results = []
    for route in ([], ["--"]):
        loki = tmp_path_factory.mktemp("plain") / ".loki"
        bash_emit("seed", "s", loki=loki)  # the first emit creates the log and its sidecar
        proc = bash_emit(*route, *args, loki=loki)
        events = _events(loki)[1:]
        results.append((proc.returncode, proc.stderr, [_stored_fields(e) for e in events]))
        if proc.returncode == 0:
            assert proc.stdout.decode().split() == [e["id"] for e in events]
        assert verify_log(FileEventLog(loki).paths).ok
    assert results[0] == results[1]


def test_a_plain_emit_never_reads_past_its_entry_point(tmp_path):
    text = BASH_EMIT.read_text()
    head = text[: text.index("# ----------------------------------------------------------------------------- JSON text")]
    cut = tmp_path / "lokilog-emit"
    cut.write_text(head + "echo 'read past the plain entry point' >&2; exit 99\n")
    loki = tmp_path / ".loki"
    bash_emit("seed", "s", loki=loki)
    for _ in range(3):
        proc = subprocess.run(["bash", str(cut), "task", "hook", "start", "task_id=t1", "n=2"],
                              env=emit_env(loki), capture_output=True, timeout=30)
        assert (proc.returncode, proc.stderr) == (0, b"")
    events = _events(loki)
    assert [e["seq"] for e in events] == [1, 2, 3, 4]
    assert events[-1]["payload"] == {"action": "start", "task_id": "t1", "n": "2"}
    assert proc.stdout.decode().strip() == events[-1]["id"]
    # Anything else reads on: an option, a JSON value, a repeated key, a fresh log.
    for args in (["task", "hook", "--stream", "s1"], ["task", "hook", "start", "n:=2"],
                 ["task", "hook", "start", "k=1", "k=2"], ["task", "hook", "start", "action=x"]):
        proc = subprocess.run(["bash", str(cut), *args], env=emit_env(loki), capture_output=True, timeout=30)
        assert proc.returncode == 99, args
    fresh = subprocess.run(["bash", str(cut), "task", "hook"], env=emit_env(tmp_path / "fresh"),
                           capture_output=True, timeout=30)
    assert fresh.returncode == 99


def test_the_plain_route_honours_the_size_limit_and_durability(tmp_path):
    loki = tmp_path / ".loki"
    bash_emit("seed", "s", loki=loki)
    big = bash_emit("task", "hook", "start", "blob=" + "x" * 400, loki=loki, LOKI_EVENTS_MAX_EVENT_BYTES="300")
    assert big.returncode == 2 and b"the limit is 300" in big.stderr
    durable = bash_emit("task", "hook", "start", loki=loki, LOKI_EVENTS_DURABILITY="always")
    assert durable.returncode == 0
    assert [json.loads(line)["seq"] for line in (loki / "events" / "log").glob("*.jsonl").__next__().read_text().splitlines()] == [1, 2]
