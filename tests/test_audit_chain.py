"""The chain's encoding and verification, as pure functions: every single mutation is caught at its place."""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess

import pytest
from conftest import REPO
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventlog import Event
from projections.audit.entry import GENESIS, Selection, body_for, entry_line, split_line
from projections.audit.verify import ChainPoint, verify_lines

TYPES = ["task", "session", "metric", "file", "error", "quality"]
values = st.one_of(st.integers(-2**53, 2**53), st.text(max_size=12), st.booleans(), st.none(),
                   st.floats(allow_nan=False, allow_infinity=False))
payloads = st.dictionaries(st.text(min_size=1, max_size=6), values, max_size=4)


@st.composite
def event_lists(draw, min_size=1, max_size=25):
    n = draw(st.integers(min_size, max_size))
    events = []
    for seq in range(1, n + 1):
        payload = draw(payloads)
        action = draw(st.sampled_from([None, "created", "completed", "write"]))
        if action:
            payload["action"] = action
        events.append(Event(seq=seq, id=f"id-{seq}-{draw(st.integers(0, 999))}", type=draw(st.sampled_from(TYPES)),
                            source=draw(st.sampled_from(["runner", "cli", "hook"])),
                            timestamp=f"2026-02-21T10:{seq // 60:02d}:{seq % 60:02d}.000Z", version="1.0",
                            payload=payload, stream=draw(st.sampled_from([None, "task-1"]))))
    return events


def build_chain(events, selection=None):
    selection = selection or Selection()
    lines, prev = [], GENESIS
    for event in events:
        if selection.audits(event):
            line, prev = entry_line(event, prev)
            lines.append(line[:-1])
    return lines


def seq_of(line: bytes) -> int:
    return json.loads(line)["seq"]


def independent_verify(lines: list[bytes], previous: str = GENESIS):
    """A second implementation with only json and hashlib: returns the first broken index or None."""
    for index, raw in enumerate(lines):
        text = raw.decode("utf-8", "replace")
        try:
            entry = json.loads(text)
            suffix = ',"hash":"%s"}' % entry["hash"]
        except (ValueError, KeyError, TypeError):
            return index
        if not text.endswith(suffix):
            return index
        body = text[: -len(suffix)] + "}"
        if "sha256:" + hashlib.sha256(body.encode()).hexdigest() != entry["hash"] or entry.get("previousHash") != previous:
            return index
        previous = entry["hash"]
    return None


def head_of(lines) -> ChainPoint:
    last = json.loads(lines[-1])
    return ChainPoint(last["seq"], last["hash"], len(lines))


# ---------------------------------------------------------------------------- encoding

def test_entry_has_the_reference_fields_and_points_back_to_the_log():
    event = Event(seq=7, id="abc", type="file", source="hook", timestamp="2026-02-21T10:00:00.000Z", version="1.0",
                  payload={"action": "write", "agent_id": "agent-1", "path": "src/app.js", "reason": "implement feature"})
    line, digest = entry_line(event, GENESIS)
    entry = json.loads(line)
    assert list(entry) == ["seq", "timestamp", "who", "what", "where", "why", "metadata", "previousHash", "hash"]
    assert (entry["seq"], entry["who"], entry["what"], entry["where"], entry["why"]) == (
        7, "agent-1", "file.write", "src/app.js", "implement feature")
    assert entry["metadata"]["eventId"] == "abc" and entry["previousHash"] == "GENESIS" and entry["hash"] == digest
    body, stored = split_line(line[:-1])
    assert stored == digest == "sha256:" + hashlib.sha256(body).hexdigest()


def test_who_falls_back_to_the_source_and_where_to_the_stream():
    event = Event(seq=1, id="x", type="task", source="runner", timestamp="2026-02-21T10:00:00.000Z",
                  version="1.0", payload={"action": "created"}, stream="task-001")
    body = body_for(event, GENESIS)
    assert (body.who, body.what, body.where, body.why) == ("runner", "task.created", "task-001", None)


def test_selection_by_type_and_action_patterns():
    make = lambda t, a: Event(seq=1, id="x", type=t, source="s", timestamp="2026-02-21T10:00:00Z", version="1.0",
                              payload={"action": a} if a else {})
    chosen = Selection.parse("task,file.*", "task.progress")
    assert chosen.audits(make("task", "created")) and chosen.audits(make("file", "write"))
    assert not chosen.audits(make("task", "progress")) and not chosen.audits(make("metric", "x"))
    assert Selection.parse(None).everything


# ---------------------------------------------------------------------------- untouched chains pass

@settings(max_examples=60, deadline=None)
@given(event_lists())
def test_an_untouched_chain_always_passes(events):
    lines = build_chain(events)
    result = verify_lines(lines, events=events, head_record=head_of(lines), against=head_of(lines).hash)
    assert result.valid, result.error
    assert (result.entries, result.head.seq, result.pending, result.anchorFound) == (len(events), events[-1].seq, 0, True)
    assert independent_verify(lines) is None


# ---------------------------------------------------------------------------- chain mutations

def mutate_chain(data, lines, events):
    """Apply one random mutation; return (lines, index of the first changed position, brokenAt expected)."""
    n = len(lines)
    seqs = [seq_of(line) for line in lines]
    kind = data.draw(st.sampled_from(["modify", "delete", "insert", "duplicate", "reorder"] if n > 1
                                     else ["modify", "delete", "insert", "duplicate"]))
    out = list(lines)
    if kind == "modify":
        i = data.draw(st.integers(0, n - 1))
        pos = data.draw(st.integers(0, len(lines[i]) - 1))
        new = data.draw(st.integers(0, 255).filter(lambda b: b != lines[i][pos]))
        out[i] = lines[i][:pos] + bytes([new]) + lines[i][pos + 1:]
        return out, i, seqs[i], kind
    if kind == "delete":
        i = data.draw(st.integers(0, n - 1))
        del out[i]
        return out, i, seqs[i], kind
    if kind == "insert":
        i = data.draw(st.integers(0, n))
        out.insert(i, b'{"seq":%d,"who":"mallory","hash":"sha256:%s"}' % (seqs[min(i, n - 1)], b"0" * 64))
        return out, i, seqs[i] if i < n else seqs[-1], kind
    if kind == "duplicate":
        i = data.draw(st.integers(0, n - 1))
        out.insert(i + 1, lines[i])
        return out, i + 1, seqs[i + 1] if i + 1 < n else seqs[i], kind
    i, j = sorted(data.draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=2, unique=True)))
    out[i], out[j] = out[j], out[i]
    return out, i, seqs[i], kind


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event_lists(), st.data())
def test_every_single_chain_mutation_is_caught_at_its_seq(events, data):
    lines = build_chain(events)
    mutated, index, seq, kind = mutate_chain(data, lines, events)
    with_log = verify_lines(mutated, events=events, head_record=head_of(lines))
    assert not with_log.valid, kind
    assert (with_log.brokenIndex, with_log.brokenAt) == (index, seq), (kind, with_log.error)
    chain_only = verify_lines(mutated, head_record=head_of(lines))
    assert not chain_only.valid and chain_only.brokenIndex == index, (kind, chain_only.error)
    if not (kind == "delete" and index == len(lines) - 1):  # only the head record sees a cut tail
        assert independent_verify(mutated) == index, kind


@settings(max_examples=100, deadline=None)
@given(event_lists(min_size=2), st.data())
def test_a_forged_but_well_chained_entry_is_caught_by_the_log(events, data):
    lines = build_chain(events)
    i = data.draw(st.integers(0, len(lines) - 1))
    forged_event = Event(**{**{f: getattr(events[i], f) for f in events[i].__struct_fields__}, "payload": {"forged": True}})
    prev = GENESIS if i == 0 else json.loads(lines[i - 1])["hash"]
    forged = build_chain(events[:i]) + [entry_line(forged_event, prev)[0][:-1]]
    for event in events[i + 1:]:
        line, prev = entry_line(event, json.loads(forged[-1])["hash"])
        forged.append(line[:-1])
    assert independent_verify(forged) is None  # internally consistent: only the log can tell
    result = verify_lines(forged, events=events)
    assert (result.valid, result.brokenIndex, result.brokenAt) == (False, i, events[i].seq)


# ---------------------------------------------------------------------------- log mutations

def renumber(events):
    return [Event(**{**{f: getattr(e, f) for f in e.__struct_fields__}, "seq": k}) for k, e in enumerate(events, 1)]


def mutate_log(data, events):
    """Apply one mutation to already-audited events; return (events, expected brokenAt, expected index)."""
    n = len(events)
    kind = data.draw(st.sampled_from(["modify", "delete", "insert", "duplicate", "reorder"] if n > 1
                                     else ["modify", "delete", "insert", "duplicate"]))
    out = list(events)
    k = data.draw(st.integers(0, n - 1))
    if kind == "modify":
        fields = {f: getattr(events[k], f) for f in events[k].__struct_fields__}
        field = data.draw(st.sampled_from(["payload", "source", "timestamp", "id", "stream"]))
        fields[field] = {"tampered": 1} if field == "payload" else ("task-9" if field == "stream" else fields[field] + "x")
        out[k] = Event(**fields)
        return out, events[k].seq, k, kind
    if kind == "delete":
        del out[k]
        return out, events[k].seq, k, kind
    if kind == "insert":  # a new event slipped in before k, later events renumbered to stay dense
        fake = Event(seq=0, id="fake", type="task", source="cli", timestamp=events[k].timestamp, version="1.0", payload={})
        return renumber(out[:k] + [fake] + out[k:]), events[k].seq, k, kind
    if kind == "duplicate":
        out.insert(k + 1, events[k])
        return out, events[k].seq + 1, k + 1, kind
    other = data.draw(st.integers(0, n - 1).filter(lambda x: x != k))
    k, other = min(k, other), max(k, other)
    out[k], out[other] = out[other], out[k]
    return out, events[k].seq, k, kind


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event_lists(), st.data())
def test_every_single_mutation_of_an_audited_event_is_caught_at_its_seq(events, data):
    lines = build_chain(events)
    mutated, seq, index, kind = mutate_log(data, events)
    result = verify_lines(lines, events=mutated, head_record=head_of(lines))
    assert not result.valid, kind
    assert (result.brokenAt, result.brokenIndex) == (seq, index), (kind, result.error)


@settings(max_examples=40, deadline=None)
@given(event_lists(min_size=2), st.data())
def test_a_wholesale_rewrite_is_caught_only_by_an_anchor(events, data):
    lines = build_chain(events)
    anchor = head_of(lines).hash
    k = data.draw(st.integers(0, len(events) - 1))
    rewritten = list(events)
    rewritten[k] = Event(**{**{f: getattr(events[k], f) for f in events[k].__struct_fields__}, "payload": {"x": "rewritten"}})
    new_lines = build_chain(rewritten)
    assert verify_lines(new_lines, events=rewritten).valid
    result = verify_lines(new_lines, events=rewritten, against=anchor)
    assert not result.valid and result.anchorFound is False and "anchor" in result.error


def test_a_filtered_chain_skips_unaudited_events_and_still_catches_a_missing_one():
    events = [Event(seq=s, id=f"e{s}", type="task" if s % 2 else "metric", source="runner",
                    timestamp="2026-02-21T10:00:00.000Z", version="1.0", payload={}) for s in range(1, 11)]
    only_tasks = Selection.parse("task")
    lines = build_chain(events, only_tasks)
    assert len(lines) == 5 and verify_lines(lines, events=events, selection=only_tasks).valid
    result = verify_lines(lines[:2] + lines[3:], events=events, selection=only_tasks)
    assert (result.valid, result.brokenAt, result.brokenIndex) == (False, 5, 2)


def test_a_pruned_chain_continues_from_its_recorded_start():
    events = [Event(seq=s, id=f"e{s}", type="task", source="runner", timestamp="2026-02-21T10:00:00.000Z",
                    version="1.0", payload={}) for s in range(1, 11)]
    lines = build_chain(events)
    start = ChainPoint(4, json.loads(lines[3])["hash"], 4)
    result = verify_lines(lines[4:], start=start, events=events[4:])
    assert result.valid and result.entries == 10 and result.prunedThrough == 4
    assert not verify_lines(lines[5:], start=start, events=events[4:]).valid


# ---------------------------------------------------------------------------- a verifier in another language

@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_node_verifier_agrees(tmp_path):
    events = [Event(seq=s, id=f"e{s}", type="file", source="hook", timestamp="2026-02-21T10:00:00.000Z", version="1.0",
                    payload={"path": f"src/é{s}.py", "n": s * 1.5, "tags": ["a", "\u2028"]}) for s in range(1, 30)]
    lines = build_chain(events)
    sealed, active = tmp_path / "audit-00000000000000000001.jsonl", tmp_path / "audit.jsonl"
    sealed.write_bytes(b"\n".join(lines[:10]) + b"\n")
    active.write_bytes(b"\n".join(lines[10:]) + b"\n")
    script = str(REPO / "scripts" / "audit" / "verify-chain.mjs")
    ok = subprocess.run(["node", script, str(sealed), str(active)], capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0 and json.loads(ok.stdout)["head"]["hash"] == head_of(lines).hash
    active.write_bytes(b"\n".join(lines[10:12] + lines[13:]) + b"\n")
    broken = subprocess.run(["node", script, str(sealed), str(active)], capture_output=True, text=True, timeout=30)
    assert broken.returncode == 1 and json.loads(broken.stdout)["brokenIndex"] == 12
