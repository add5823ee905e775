"""The crash-report projection: dedup by fingerprint, incremental == full, byte-identical rebuilds."""
from __future__ import annotations

import copy
import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventlog import Event, FileEventLog
from projections.base import project
from projections.crash_reports import CrashReportsProjection, reports
from projections.engine import catch_up
from projections.registry import all_projections

STACKS = [
    'Traceback (most recent call last):\n  File "/home/ua/x.py", line 1, in main\n  File "/home/ua/y.py", line 2, in run\n',
    "Error: boom\n    at parse (/Users/ub/a.js:1:2)\n    at main (/Users/ub/b.js:3:4)\n",
    "",
]


def error_event(seq: int, cls: str, stack: str, second: int) -> Event:
    return Event(seq=seq, id=f"e{seq}", type="error", source="runner", timestamp=f"2026-02-21T10:00:{second:02d}.000Z",
                 version="1.0", payload={"action": "crash", "error_class": cls, "stack": stack,
                                         "message": f"failed for user{seq}@example.com"})


EVENTS = st.lists(st.tuples(st.sampled_from(["ValueError", "KeyError", "builtins.ValueError"]),
                            st.sampled_from(STACKS), st.booleans()), max_size=25)


def build(items) -> list[Event]:
    out = []
    for seq, (cls, stack, is_error) in enumerate(items, 1):
        event = error_event(seq, cls, stack, seq % 60)
        out.append(event if is_error else Event(seq=seq, id=f"t{seq}", type="task", source="runner",
                                                timestamp=event.timestamp, version="1.0", payload={"action": "done"}))
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(EVENTS, st.integers(0, 25))
def test_incremental_equals_full_and_counts_add_up(items, cut):
    events = build(items)
    projection = CrashReportsProjection()
    full = project(projection, events)
    resumed = project(projection, events[cut:], copy.deepcopy(project(projection, events[:cut])))
    assert resumed == full
    errors = [e for e in events if e.type == "error"]
    assert sum(r["occurrences"] for r in full["reports"].values()) == len(errors)
    # "builtins.ValueError" and "ValueError" are one class; paths and homes never split a fingerprint.
    assert len(full["reports"]) <= 2 * len(STACKS)
    assert "example.com" not in json.dumps(full)


def test_views_are_one_file_per_fingerprint_and_rebuild_byte_identically(loki):
    with FileEventLog(loki) as log:
        for n in range(3):
            log.append("error", "runner", {"action": "crash", "error_class": "ValueError", "stack": STACKS[0]})
        log.append("error", "hook", {"action": "command_failed", "error_class": "CommandFailed", "exit_code": 2})
    state = catch_up(loki, CrashReportsProjection()).state
    files = sorted((loki / "crash").glob("*.json"))
    assert len(files) == 2 and sorted(r["occurrences"] for r in reports(state)) == [1, 3]
    before = {f.name: f.read_bytes() for f in files}
    for f in files:
        f.unlink()
    (loki / "crash" / ("f" * 64 + "-20200101T000000Z.json")).write_text("{}")  # a stale view of ours
    (loki / "crash" / "notes.json").write_text("{}")                          # somebody else's file
    catch_up(loki, CrashReportsProjection())
    after = {f.name: f.read_bytes() for f in (loki / "crash").glob("*.json") if f.name != "notes.json"}
    assert after == before and (loki / "crash" / "notes.json").exists()


def test_an_event_the_scrubber_fails_on_makes_no_report(monkeypatch):
    import projections.crash_reports as module

    def failing(*args, **kwargs):
        raise RecursionError("scrubber bug")

    monkeypatch.setattr(module, "build_payload", failing)
    projection = CrashReportsProjection()
    state = projection.apply(projection.initial(), error_event(1, "E", STACKS[0], 0))
    assert state == {"reports": {}, "skipped": 1, "changes": 1}


def test_odd_frames_are_unknown_not_fatal():
    projection = CrashReportsProjection()
    event = Event(seq=1, id="x", type="error", source="s", timestamp="2026-02-21T10:00:00Z", version="1.0",
                  payload={"error_class": "E", "stack": [{"function": 3}, {"line": 2}, "/home/ux/y.py:3"]})
    (report,) = projection.apply(projection.initial(), event)["reports"].values()
    assert report["payload"]["stack_signature"] == ["<unknown>"] * 3


def test_registered_with_the_other_projections():
    assert "crash_reports" in {p.name for p in all_projections()}


def test_no_error_events_no_crash_directory(loki: Path):
    with FileEventLog(loki) as log:
        log.append("task", "runner", {"action": "done"})
    catch_up(loki, CrashReportsProjection())
    assert not (loki / "crash").exists()
