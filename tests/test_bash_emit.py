"""The bash client: escaping, validation, the direct append and every fallback, library and batch modes."""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from eventlog import FileEventLog, LogSettings
from tests.clients import BASH_EMIT, bash_emit, emit_env, log_lines, pending_files

ONE_LINE = b"[0-9a-f]{32}\n"


def _events(loki: Path):
    with FileEventLog(loki, settings=LogSettings()) as log:
        log.ingest_pending()
        return list(log.read())


def _ok(done) -> str:
    assert done.returncode == 0, done.stderr.decode()
    assert done.stderr == b""
    out = done.stdout.decode()
    assert out.endswith("\n") and out.count("\n") == 1, out
    return out.strip()


# ------------------------------------------------------------------------- escaping

_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# A key ending in ":" would make "key:=value", the syntax for a JSON value: not a string pair.
@given(values=st.lists(st.tuples(_text.filter(lambda k: k and "=" not in k and k != "action" and not k.endswith(":")),
                                 _text), max_size=4,
                       unique_by=lambda kv: kv[0]),
       action=_text, type_=st.text(st.characters(min_codepoint=0x20, blacklist_categories=("Cs",), blacklist_characters="\x7f"), min_size=1, max_size=20))
def test_every_string_round_trips(tmp_path_factory, values, action, type_):
    loki = tmp_path_factory.mktemp("esc") / ".loki"
    # "--" ends the options, as for any command: a type like "--" or "-x" is then positional.
    args = ["--", type_, "hook", action] + [f"{k}={v}" for k, v in values]
    _ok(bash_emit(*args, loki=loki))
    [line] = log_lines(loki)
    stored = json.loads(line)
    expected = ({"action": action} if action else {}) | dict(values)
    assert stored["payload"] == expected and stored["type"] == type_
    [event] = _events(loki)
    assert event.payload == expected


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False, min_value=-1e200, max_value=1e200) | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.dictionaries(_text.filter(lambda k: k != "action"), _json, max_size=5),
       indent=st.sampled_from([None, 0, 2]), ascii=st.booleans())
def test_payload_json_is_validated_and_compacted(tmp_path_factory, payload, indent, ascii):
    loki = tmp_path_factory.mktemp("pj") / ".loki"
    text = json.dumps(payload, indent=indent, ensure_ascii=ascii)
    _ok(bash_emit("metric", "hook", "", "--payload-json", text, loki=loki))
    [line] = log_lines(loki)
    assert json.loads(line)["payload"] == payload
    [event] = _events(loki)
    assert event.payload == payload


@pytest.mark.parametrize("bad", [b"\xff", b"a\xc0\x80", b"\xed\xa0\x80", b"\xe2\x82", b"\xf4\x90\x80\x80", b"ok\x80"])
def test_invalid_utf8_is_refused_and_nothing_is_written(loki, bad):
    for args in ([b"task", b"hook", b"x", b"k=" + bad], [b"task" + bad, b"hook", b"x"], [b"task", b"hook", bad],
                 [b"task", b"hook", b"x", b"--payload-json", b'{"k":"' + bad + b'"}']):
        done = bash_emit(*args, loki=loki)
        assert done.returncode == 2
        assert b"not valid UTF-8" in done.stderr and done.stdout == b""
    assert not (loki / "events").exists()


@pytest.mark.parametrize("text, why", [
    ("{", "incomplete"), ('{"a":}', "unexpected"), ("[1]", "must be a JSON object"), ('{"a":1}x', "after the JSON"),
    ('{"a":"\\ud800"}', "lone surrogate"), ('{"a":"\\udc00"}', "lone surrogate"), ('{"a":01}', "bad number"),
    ('{"a":1e999}', "out of range"), ('{"a":"x\ty"}', "raw control"), ('{"a":1,"a":2}', "duplicate key"),
    ('{"action":"y"}', "given twice"), ('{"a":tru}', "not valid JSON"), ('{"a":[1,]}', "unexpected"),
    ("[" * 600 + "]" * 600, "nested"), ('{"a":"\\x"}', "bad escape"),
])
def test_invalid_json_is_refused(loki, text, why):
    done = bash_emit("task", "hook", "x", "--payload-json", text, loki=loki)
    assert done.returncode == 2, text
    assert why in done.stderr.decode()
    assert not (loki / "events").exists()


@pytest.mark.parametrize("args, why", [
    (["task"], "usage"), (["", "hook", "x"], "type must be a non-empty"), (["t", "a\tb", "x"], "control characters"),
    (["t", "s", "x", "novalue"], "expected key=value"), (["t", "s", "x", "=v"], "key is empty"),
    (["t", "s", "x", "k=1", "k=2"], "given twice"), (["t", "s", "x", "n:=nope"], "not valid JSON"),
    (["t", "s", "x", "--id", "a b"], "id 'a b'"), (["t", "s", "x", "--timestamp", "yesterday"], "not RFC 3339"),
    (["t", "s", "x", "--stream", "a", "--expected-version", "3"], "lokilog emit"), (["t", "s", "x", "--bogus"], "unknown option"),
    (["t" * 201, "s", "x"], "longer than 200"),
])
def test_bad_arguments_exit_2(loki, args, why):
    done = bash_emit(*args, loki=loki)
    assert done.returncode == 2 and done.stdout == b""
    assert why in done.stderr.decode()


def test_size_limit(loki):
    done = bash_emit("t", "s", "x", "blob=" + "x" * 3000, loki=loki, LOKI_EVENTS_MAX_EVENT_BYTES="2048")
    assert done.returncode == 2 and b"the limit is 2048" in done.stderr


# ------------------------------------------------------------------ the direct append

def test_direct_append_interleaves_with_python(loki):
    with FileEventLog(loki, settings=LogSettings()) as log:
        log.append("task", "runner", {"action": "start"}, stream="task-1")
        bash_id = _ok(bash_emit("task", "hook", "progress", "pct:=50", "--stream", "task-1", loki=loki))
        log.append("task", "runner", {"action": "done"}, stream="task-1")
        # The Python index catches up with the line bash wrote.
        assert log.stream_version("task-1") == 3
        events = list(log.read())
    assert [e.seq for e in events] == [1, 2, 3]
    assert events[1].id == bash_id and events[1].payload == {"action": "progress", "pct": 50}
    assert not pending_files(loki)


def test_first_emit_creates_the_log(loki):
    event_id = _ok(bash_emit("session", "hook", "start", loki=loki))
    assert [l.split(b",")[0:2] for l in log_lines(loki)] == [[b'{"seq":1', f'"id":"{event_id}"'.encode()]]
    assert (loki / "events" / "log" / "00000000000000000001.jsonl").exists()


def test_timestamp_is_utc_with_milliseconds(loki):
    _ok(bash_emit("t", "s", "x", loki=loki, TZ="America/New_York"))
    stamp = json.loads(log_lines(loki)[0])["timestamp"]
    assert stamp.endswith("Z") and len(stamp) == 24
    assert abs(time.time() - time.mktime(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")) + time.timezone) < 120


def test_durable_flag(durable_loki):
    loki = durable_loki
    _ok(bash_emit("t", "s", "x", "--durable", loki=loki))
    _ok(bash_emit("t", "s", "x", "--id", "durable-1", loki=loki, LOKI_EVENTS_DURABILITY="always"))
    assert [e.seq for e in _events(loki)] == [1, 2]


# ---------------------------------------------------------------------- fallbacks

def _hold_lock(loki: Path) -> int:
    (loki / "events").mkdir(parents=True, exist_ok=True)
    fd = os.open(loki / "events" / "log.lock", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _session_processes(sid: int) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[3]) == sid:
                found.append(entry.name)
    return found


def test_busy_lock_falls_back_within_the_bound_and_leaves_no_process(loki):
    fd = _hold_lock(loki)
    try:
        started = time.monotonic()
        child = subprocess.Popen(["bash", str(BASH_EMIT), "task", "hook", "x"], env=emit_env(loki, LOKI_EVENTS_LOCK_TIMEOUT="0.3"),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        out, err = child.communicate(timeout=20)
        elapsed = time.monotonic() - started
        assert child.returncode == 0, err
        assert 0.3 <= elapsed < 5
        assert _session_processes(child.pid) == []
        event_id = out.decode().strip()
        assert [p.name.endswith(f"_{event_id}.lokilog.json") for p in pending_files(loki)] == [True]
    finally:
        os.close(fd)
    assert [e.id for e in _events(loki)] == [event_id]


def test_no_flock_binary_falls_back(loki, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("mkdir", "mv", "rm", "sync", "tail", "stat", "truncate", "od", "date"):
        os.symlink(shutil.which(tool), bin_dir / tool)
    done = subprocess.run([shutil.which("bash"), str(BASH_EMIT), "t", "s", "x"], env=emit_env(loki, PATH=str(bin_dir)),
                          capture_output=True, timeout=30)
    event_id = _ok(done)
    assert len(pending_files(loki)) == 1 and not log_lines(loki)
    assert [e.id for e in _events(loki)] == [event_id]


def _seed(loki: Path, n: int = 2, **settings) -> Path:
    with FileEventLog(loki, settings=LogSettings(**settings)) as log:
        for i in range(n):
            log.append("task", "runner", {"i": i})
    return sorted((loki / "events" / "log").glob("*.jsonl"))[-1]


def test_sealed_active_segment_falls_back(loki):
    from eventlog.segments import seal

    segment = _seed(loki)
    before = segment.read_bytes()
    seal(segment)  # read-only, its checksum beside it; a crash came before the successor
    event_id = _ok(bash_emit("t", "s", "x", loki=loki))
    assert segment.read_bytes() == before and len(pending_files(loki)) == 1
    events = _events(loki)  # Python finishes the interrupted rotation, then ingests
    assert [e.seq for e in events] == [1, 2, 3] and events[-1].id == event_id
    assert len(list((loki / "events" / "log").glob("*.jsonl"))) == 2


def test_a_seal_interrupted_before_its_checksum_loses_nothing(loki):
    from eventlog.verify import verify_log

    segment = _seed(loki)
    segment.chmod(0o444)  # a crash between the chmod and the checksum
    event_id = _ok(bash_emit("t", "s", "x", loki=loki))
    # Anyone but root fails to open it for writing and uses the drop box; root may append (no
    # builtin shows the mode), before the checksum that Python's next lock holder writes.
    assert len(pending_files(loki)) == (0 if os.geteuid() == 0 else 1)
    events = _events(loki)
    assert [e.seq for e in events] == [1, 2, 3] and events[-1].id == event_id
    assert verify_log(FileEventLog(loki).paths).ok


def test_full_active_segment_falls_back_and_python_rotates(loki):
    active = _seed(loki, n=4, segment_max_bytes=300)
    assert active.stat().st_size >= 300
    event_id = _ok(bash_emit("t", "s", "x", loki=loki, LOKI_EVENTS_SEGMENT_BYTES="300"))
    assert len(pending_files(loki)) == 1
    with FileEventLog(loki, settings=LogSettings(segment_max_bytes=300)) as log:
        log.ingest_pending()
        events = list(log.read())
    assert [e.seq for e in events] == [1, 2, 3, 4, 5] and events[-1].id == event_id
    assert len(list((loki / "events" / "log").glob("*.jsonl"))) == 3


@pytest.mark.parametrize("tail", [b'{"seq":3,"id":"torn"', b"\x00" * 100, b'{"seq":3,"id":"x","payload":{}}\x00',
                                  b"garbage\n", b"\n"])
def test_damaged_tail_falls_back_and_python_repairs(loki, tail):
    segment = _seed(loki)
    with open(segment, "ab") as f:
        f.write(tail)
    damaged = segment.read_bytes()
    event_id = _ok(bash_emit("t", "s", "x", loki=loki))
    assert segment.read_bytes() == damaged, "bash must not append after a damaged tail"
    events = _events(loki)
    assert [e.seq for e in events] == [1, 2, 3] and events[-1].id == event_id


def test_given_id_goes_through_the_drop_box_and_is_stored_once(loki):
    _seed(loki, n=1)
    for _ in range(2):
        assert _ok(bash_emit("t", "s", "x", "--id", "retry-1", loki=loki)) == "retry-1"
    _ok(bash_emit("t", "s", "x", "--id", "retry-1", loki=loki))
    events = _events(loki)
    assert [e.id for e in events].count("retry-1") == 1
    assert not pending_files(loki)


# ------------------------------------------------------------------ batch and library

def test_batch_appends_all_under_one_lock(loki):
    lines = "\n".join([
        json.dumps({"type": "task", "source": "hook", "payload": {"action": "a", "n": 1}}),
        "",
        json.dumps({"type": "task", "source": "hook", "payload": {"action": "b"}, "stream": "s-1"}),
        json.dumps({"source": "hook", "type": "metric", "timestamp": "2026-01-01T00:00:00.000Z"}),
    ])
    done = bash_emit("--batch", loki=loki, input=lines.encode())
    assert done.returncode == 0, done.stderr
    ids = done.stdout.decode().split()
    events = _events(loki)
    assert [e.id for e in events] == ids and [e.seq for e in events] == [1, 2, 3]
    assert events[1].stream == "s-1" and events[2].timestamp == "2026-01-01T00:00:00.000Z"
    assert events[0].payload == {"action": "a", "n": 1} and events[2].payload == {}


@pytest.mark.parametrize("bad", ['{"type":"t"}', '{"type":"t","source":"s","payload":[]}', '{"type":"t","source":"s","x":1}', "nope"])
def test_batch_is_all_or_nothing(loki, bad):
    good = json.dumps({"type": "task", "source": "hook"})
    done = bash_emit("--batch", loki=loki, input=f"{good}\n{bad}\n".encode())
    assert done.returncode == 2 and done.stdout == b"" and b"line 2" in done.stderr
    assert not log_lines(loki) and not pending_files(loki)


def test_batch_with_ids_uses_the_drop_box(loki):
    lines = "\n".join(json.dumps({"type": "t", "source": "s", "id": f"b-{i}"}) for i in range(3))
    done = bash_emit("--batch", loki=loki, input=lines.encode())
    assert done.stdout.decode().split() == ["b-0", "b-1", "b-2"]
    assert len(pending_files(loki)) == 3
    assert [e.id for e in _events(loki)] == ["b-0", "b-1", "b-2"]


def _bash(script: str, loki: Path):
    return subprocess.run(["bash", "-c", script, "hook", str(BASH_EMIT), str(loki.parent / "other")], env=emit_env(loki),
                          capture_output=True, timeout=30)


def test_library_mode(loki):
    done = _bash(
        'set -euo pipefail; source "$1"\n'
        'id=$(lokilog_emit task hook start task_id=t1)\n'
        'lokilog_emit task hook done task_id=t1 >/dev/null\n'
        'echo "first=$id last=$LOKILOG_LAST_ID"\n'
        'lokilog_emit "" hook x 2>/dev/null || echo "refused=$?"\n'
        'echo "LC_ALL=${LC_ALL-unset}"\n'
        'lokilog_emit t s x --loki-dir "$2" >/dev/null; echo "LOKI_DIR=$LOKI_DIR"\n',
        loki,
    )
    assert done.returncode == 0, done.stderr
    out = dict(line.split("=", 1) for line in done.stdout.decode().split())
    events = _events(loki)
    assert out["first"] == events[0].id and out["last"] == events[1].id and out["refused"] == "2"
    assert out["LC_ALL"] == os.environ.get("LC_ALL", "unset")
    assert out["LOKI_DIR"] == str(loki) and len(log_lines(loki.parent / "other")) == 1


def test_trap_errors_emits_an_error_event_and_keeps_bash_behaviour(loki):
    done = _bash('source "$1"; lokilog_trap_errors my-hook\nfalse\necho still-here\nset -e\n(exit 7)\necho unreachable\n', loki)
    assert done.returncode == 7 and done.stdout == b"still-here\n"
    events = _events(loki)
    assert [(e.type, e.source, e.payload["action"], e.payload["exit_code"]) for e in events] == [
        ("error", "my-hook", "command_failed", 1), ("error", "my-hook", "command_failed", 7)]
    assert events[0].payload["message"] == "false" and events[0].payload["line"] == 2


def test_help_and_stdout_hygiene(loki):
    done = bash_emit("--help", loki=loki)
    assert done.returncode == 0 and b"usage: lokilog-emit" in done.stdout
    assert _ok(bash_emit("t", "s", "x", loki=loki))


def test_clock_arithmetic_matches_python():
    import random
    from datetime import datetime, timezone

    rng = random.Random(7)
    moments = [f"{rng.randrange(0, 253402300800)}.{rng.randrange(0, 10**6):06d}" for _ in range(300)]
    moments += ["0.000000", "951782400.999999", "1709251199.5", "4102444800.000001"]
    script = 'source "$1"; shift; for t in "$@"; do _lokilog_now "$t"; echo "$_lts"; done'
    done = subprocess.run(["bash", "-c", script, "x", str(BASH_EMIT), *moments], capture_output=True, text=True, timeout=60)
    for moment, got in zip(moments, done.stdout.split(), strict=True):
        sec, frac = moment.split(".")
        expected = datetime.fromtimestamp(int(sec), timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + (frac + "000")[:3] + "Z"
        assert got == expected, moment


@pytest.mark.parametrize("pair", ["a=b", "a:=1", "a::=2", "a=b:=c", "a:=\"x=y\"", "k:=[1,{\"z\":null}]", "u=é=ü"])
def test_pairs_parse_like_the_python_cli(loki, pair):
    from commands.payloads import parse_pair

    _ok(bash_emit("t", "s", "", pair, loki=loki))
    key, value = parse_pair(pair)
    assert json.loads(log_lines(loki)[0])["payload"] == {key: value}
