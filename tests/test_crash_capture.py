"""Crash capture in real `lokilog` processes: scrubbed before it is written, never blocking, opt-out honoured."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import read_line, run_lokilog, subprocess_env
from eventlog import FileEventLog

ANTHROPIC = "sk-ant-api03-" + "Qz7" * 14
GITHUB = "ghp_" + "A1b2C3d4" * 4 + "e5F6"

# A lokilog with one extra command that crashes the way a real bug would, through the real main().
CRASHING = """
import os, sys, threading
from commands.cli import app, main

if os.environ.get("BREAK_SCRUB"):
    import eventlog.redaction.scrub
    def broken(*args, **kwargs):
        raise RuntimeError("scrubber bug")
    eventlog.redaction.scrub.scrub_tree = broken

@app.command("boom")
def boom():
    token = os.environ["SECRET_TOKEN"]
    password = "hunter2-" + "x" * 8
    home = os.environ["HOME"]
    raise ValueError(f"cannot reach 10.1.2.3 as jane.doe@example.com with {token} "
                     f"(password={password}) from {home}/projects/acme-rocket, {os.environ.get('GH', '')}")

@app.command("thread-boom")
def thread_boom():
    def work():
        raise KeyError("in a worker " + os.environ["SECRET_TOKEN"])
    worker = threading.Thread(target=work)
    worker.start()
    worker.join()

@app.command("exit-five")
def exit_five():
    sys.exit(5)

main()
"""


def crash(tmp_path: Path, loki: Path, home: Path, command: str = "boom", script_dir: Path | None = None,
          timeout: float = 60, **env: str) -> subprocess.CompletedProcess:
    script = (script_dir or tmp_path) / "crashing_lokilog.py"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(CRASHING)
    home.mkdir(parents=True, exist_ok=True)
    full_env = subprocess_env(LOKI_DIR=str(loki), HOME=str(home), SECRET_TOKEN=ANTHROPIC, GH=GITHUB, **env)
    for name in ("LOKI_TELEMETRY", "LOKI_TELEMETRY_DISABLED", "DO_NOT_TRACK"):
        if name not in env:
            full_env.pop(name, None)
    return subprocess.run([sys.executable, str(script), command], env=full_env, capture_output=True, text=True,
                          timeout=timeout, cwd=str(tmp_path))


def errors(loki: Path) -> list:
    with FileEventLog(loki) as log:
        return [e for e in log.read() if e.type == "error"]


def raw_log_bytes(loki: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted((loki / "events").rglob("*")) if p.is_file())


@pytest.fixture
def ready(loki: Path) -> Path:
    with FileEventLog(loki) as log:
        log.append("session", "runner", {"action": "start"})
    return loki


def test_an_uncaught_exception_becomes_one_scrubbed_error_event(tmp_path, ready):
    home = tmp_path / "home" / "ujaneway"
    result = crash(tmp_path, ready, home)
    assert result.returncode == 1
    assert "ValueError" in result.stderr and result.stderr.count("\n") == 1  # one line; LOKI_DEBUG=1 adds the traceback
    (event,) = errors(ready)
    assert event.action == "crash" and event.source == "cli"
    payload = event.payload
    assert payload["scrubbed"] is True and payload["error_class"] == "ValueError" and payload["exit_code"] == 1
    assert payload["redactions"] >= 5
    assert "boom" in payload["stack"] and "in boom" in payload["stack"]
    everything = raw_log_bytes(ready)
    for secret in (ANTHROPIC, GITHUB, b"hunter2", b"jane.doe@example.com", b"10.1.2.3", str(home), b"ujaneway"):
        assert (secret if isinstance(secret, bytes) else secret.encode()) not in everything


def test_crash_reports_deduplicate_by_fingerprint_with_counts(tmp_path, ready):
    for _ in range(2):
        assert crash(tmp_path, ready, tmp_path / "home" / "uanne").returncode == 1
    listed = run_lokilog("crash", "--json", loki=ready, HOME=str(tmp_path / "home" / "uanne"))
    assert listed.returncode == 0, listed.stderr
    (report,) = json.loads(listed.stdout)
    assert report["occurrences"] == 2 and report["scrubbed"] is True
    assert report["payload"]["error_class"] == "ValueError" and report["payload"]["stack_signature"][0] == "boom"
    files = list((ready / "crash").glob("*.json"))
    assert [f.stem for f in files] == [report["id"]]
    assert files[0].name.startswith(report["payload"]["fingerprint"] + "-")
    text = files[0].read_text()
    for secret in (ANTHROPIC, GITHUB, "hunter2", "jane.doe", "10.1.2.3", "uanne", "acme-rocket"):
        assert secret not in text


def test_two_machines_with_different_homes_give_the_same_fingerprint(tmp_path):
    fingerprints = []
    for machine, user in (("m1", "ualice"), ("m2", "ubob")):
        loki = tmp_path / machine / ".loki"
        with FileEventLog(loki) as log:
            log.append("session", "runner", {"action": "start"})
        home = tmp_path / machine / "home" / user
        # The crashing code itself lives under each home, as a user's checkout would.
        assert crash(tmp_path, loki, home, script_dir=home / "src").returncode == 1
        listed = run_lokilog("crash", "--json", loki=loki, HOME=str(home))
        (report,) = json.loads(listed.stdout)
        fingerprints.append(report["payload"]["fingerprint"])
        assert user not in listed.stdout
    assert fingerprints[0] == fingerprints[1]


@pytest.mark.parametrize("switch", [{"LOKI_TELEMETRY": "off"}, {"LOKI_TELEMETRY_DISABLED": "true"},
                                    {"DO_NOT_TRACK": "1"}, "config"])
def test_every_opt_out_stops_capture(tmp_path, ready, switch):
    home = tmp_path / "home" / "uopt"
    env = {}
    if switch == "config":
        assert run_lokilog("telemetry", "off", loki=ready, HOME=str(home)).returncode == 0
    else:
        env = switch
    result = crash(tmp_path, ready, home, **env)
    assert result.returncode == 1 and "ValueError" in result.stderr
    assert errors(ready) == []
    assert not list((ready / "events" / "pending").glob("*.json"))


def test_a_failed_scrub_writes_nothing_and_the_crash_still_surfaces(tmp_path, ready):
    result = crash(tmp_path, ready, tmp_path / "home" / "ubroken", BREAK_SCRUB="1")
    assert result.returncode == 1 and "ValueError" in result.stderr and "scrubber bug" not in result.stderr
    assert errors(ready) == []
    assert ANTHROPIC.encode() not in raw_log_bytes(ready)


def test_no_loki_directory_means_nothing_is_created(tmp_path):
    loki = tmp_path / "nowhere" / ".loki"
    loki.parent.mkdir()
    result = crash(tmp_path, loki, tmp_path / "home" / "unone")
    assert result.returncode == 1 and "ValueError" in result.stderr
    assert not loki.exists()


def test_uncaught_exceptions_in_threads_are_captured(tmp_path, ready):
    result = crash(tmp_path, ready, tmp_path / "home" / "uthread", command="thread-boom")
    assert result.returncode == 0 and "KeyError" in result.stderr
    (event,) = errors(ready)
    assert event.payload["component"] == "cli:thread" and event.payload["error_class"] == "KeyError"
    assert ANTHROPIC not in json.dumps(event.payload)


HOLD = """
import sys, time
from eventlog import FileEventLog
log = FileEventLog(sys.argv[1])
log._lock.acquire(5)
print("locked", flush=True)
time.sleep(120)
"""


def test_a_stopped_lock_holder_cannot_block_capture(tmp_path, ready):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(ready)], stdout=subprocess.PIPE,
                              env=subprocess_env(), text=True)
    try:
        assert read_line(holder.stdout).strip() == "locked"
        os.kill(holder.pid, signal.SIGSTOP)
        started = time.monotonic()
        result = crash(tmp_path, ready, tmp_path / "home" / "ulocked", timeout=60)
        assert result.returncode == 1 and "ValueError" in result.stderr
        assert time.monotonic() - started < 30  # the lock wait is 0.5 s; generous for a loaded machine
        (dropped,) = (ready / "events" / "pending").glob("*.json")
        assert ANTHROPIC not in dropped.read_text()
    finally:
        holder.kill()
        holder.wait(timeout=10)
        holder.stdout.close()
    (event,) = errors(ready)  # the next reader ingests the drop box
    assert event.payload["scrubbed"] is True


def test_an_unexpected_exit_status_is_recorded(tmp_path, ready):
    result = crash(tmp_path, ready, tmp_path / "home" / "uexit", command="exit-five")
    assert result.returncode == 5
    (event,) = errors(ready)
    assert (event.action, event.payload["error_class"], event.payload["exit_code"]) == ("exit", "NonZeroExit", 5)


def test_handled_failures_are_not_crashes(tmp_path, ready):
    home = tmp_path / "home" / "uhandled"
    home.mkdir(parents=True)
    bad = run_lokilog("emit", "task", "--payload", "[1]", loki=ready, HOME=str(home))
    missing = run_lokilog("crash", "show", "nope", loki=ready, HOME=str(home))
    assert (bad.returncode, missing.returncode) == (2, 1)
    assert errors(ready) == []


BASH_HOOK = r"""
set -E
lokilog() { "$PYTHON" -m commands "$@"; }
# The emitter library's contract: on ERR, one `error` event with action, error_class, message, exit_code.
trap 'status=$?; lokilog emit error -s hook -a command_failed error_class=CommandFailed \
      "message=$BASH_COMMAND" component=hook.sh "exit_code:=$status" >/dev/null 2>&1 || true' ERR
test "SECRET" = "HOME_DIR/x" || true
test "SECRET" = "HOME_DIR/x"
"""


def test_a_bash_hook_error_event_becomes_a_scrubbed_report(tmp_path, ready):
    home = tmp_path / "home" / "ubash"
    home.mkdir(parents=True)
    env = subprocess_env(LOKI_DIR=str(ready), HOME=str(home), SECRET_TOKEN=ANTHROPIC, PYTHON=sys.executable)
    script = BASH_HOOK.replace("SECRET", ANTHROPIC).replace("HOME_DIR", str(home))
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    (event,) = errors(ready)
    assert ANTHROPIC in event.payload["message"]  # a hook's own event is as the hook wrote it ...
    shown = run_lokilog("crash", "show", "--json", _prefix(ready), loki=ready, HOME=str(home))
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    assert report["payload"]["error_class"] == "CommandFailed" and report["payload"]["exit_code"] == 1
    assert report["payload"]["redactions_count"] >= 2
    for path in (ready / "crash").glob("*.json"):  # ... but its report holds none of it
        assert ANTHROPIC not in path.read_text() and "ubash" not in path.read_text()


def _prefix(loki: Path) -> str:
    run_lokilog("crash", loki=loki)
    (path,) = (loki / "crash").glob("*.json")
    return path.stem[:10]
