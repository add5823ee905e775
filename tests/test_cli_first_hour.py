"""What a newcomer meets in the first hour: each failure is one clear line naming the right thing.

One test per finding (a `.loki` that is a file, a read-only disk, a mistyped --loki-dir, bad
values named by the option the user gave, out-of-range seqs, a closed pipe, --version,
`checkpoint show latest`, unknown metrics paths, where `telemetry off` writes, the README).
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from cli_tree import walk_commands
from commands.cli import app
from conftest import REPO, run_lokilog, subprocess_env
from eventlog import FileEventLog, NewEvent
from readonly import run_read_only


def one_error_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("lokilog: error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.fixture
def tasks(loki: Path) -> Path:
    with FileEventLog(loki) as log:
        log.append_many([NewEvent(type="task", source="runner", payload={"action": "start", "task_id": f"t{i}"})
                         for i in range(1, 7)])
    return loki


# 1 -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", [["emit", "task"], ["tail"], ["stats"], ["status"], ["doctor"]])
def test_a_loki_that_is_a_regular_file_is_one_line_naming_it(tmp_path, command):
    loki = tmp_path / ".loki"
    loki.write_text("I am a file\n")
    done = run_lokilog(*command, loki=loki)
    assert done.returncode == 2
    assert f"{loki} is not a directory (given by $LOKI_DIR)" in one_error_line(done.stderr)
    assert loki.read_text() == "I am a file\n"


# 2 -----------------------------------------------------------------------------------------------

def test_a_read_only_file_system_fails_writes_cleanly_and_status_still_answers(tasks, tmp_path):
    FileEventLog(tasks).close()
    run_lokilog("status", loki=tasks)  # views on disk, as a run would have left them
    mount = tmp_path / "ro" / ".loki"
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    results = run_read_only(tasks, mount, [
        {"args": ["--loki-dir", str(mount), "emit", "task"]},
        {"args": ["--loki-dir", str(mount), "status"]},
        {"args": ["--loki-dir", str(mount), "status", "--json"]},
        {"args": ["--loki-dir", str(mount), "checkpoint", "create"]},
        {"args": ["--loki-dir", str(mount), "doctor"]},
    ], tmp_path)
    emit, status, status_json, checkpoint, doctor = results
    assert emit["exit"] == 1 and emit["crash"] is None
    assert one_error_line(emit["stderr"]).endswith(f"cannot write {mount}/events/log.lock: read-only file system")
    assert status["exit"] == 0, status
    assert "could not refresh the run-state views" in status["stderr"] and "read-only file system" in status["stderr"]
    assert "in_progress  t1, t2, t3, t4, t5, t6" in status["stdout"]
    assert json.loads(status_json["stdout"])["seq"] == 6
    assert checkpoint["exit"] == 1 and "read-only file system" in one_error_line(checkpoint["stderr"])
    assert doctor["exit"] == 1 and f"the check failed: cannot write {mount}/events/log.lock: read-only file system" \
        in doctor["stdout"]


def test_a_fresh_read_only_mount_fails_emit_and_tail_cleanly(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    mount = tmp_path / "ro"
    emit, tail = run_read_only(empty, mount, [
        {"args": ["--loki-dir", str(mount / ".loki"), "emit", "task"]},
        {"args": ["--loki-dir", str(mount / ".loki"), "tail"]},
    ], tmp_path)
    for result in (emit, tail):
        assert result["exit"] == 1 and result["crash"] is None, result
        assert "read-only file system" in one_error_line(result["stderr"])


# 3 -----------------------------------------------------------------------------------------------

def test_a_mistyped_loki_dir_is_not_created_and_says_which_directory_is_missing(tmp_path):
    loki = tmp_path / "nonexistent" / "dir" / ".loki"
    for args, named_by in ((["--loki-dir", str(loki)], "--loki-dir"), ([], "$LOKI_DIR")):
        done = subprocess.run([sys.executable, "-m", "commands", *args, "emit", "task"], capture_output=True,
                              text=True, timeout=60, env=subprocess_env(LOKI_DIR=str(loki)))
        assert done.returncode == 2 and done.stdout == ""
        assert one_error_line(done.stderr) == (f"lokilog: error: {loki.parent} does not exist: not creating {loki} "
                                               f"there (given by {named_by})")
    assert not (tmp_path / "nonexistent").exists()


def test_read_commands_on_an_empty_log_say_no_log_here(cli, loki):
    loki.mkdir()
    done = cli("stats")
    assert done.exit_code == 0
    assert "None" not in done.stdout and f"no log here: {loki}/events/log holds no events yet" in done.stdout


# 4 -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("spelling", ["--context", "-c"])
def test_a_bad_context_names_context(cli, loki, spelling):
    done = cli("policy", "check", "pre_execution", spelling, "notjson")
    assert done.exit_code == 2
    assert one_error_line(done.stderr).startswith("lokilog: error: --context: not valid JSON")


def test_a_bad_payload_names_payload(cli):
    done = cli("emit", "task", "-p", "[1]")
    assert done.exit_code == 2 and one_error_line(done.stderr) == (
        "lokilog: error: --payload: must be a JSON object, got list")


def _registered_options() -> set[str]:
    names = {o for _, command in walk_commands(app) for p in command.params for o in p.opts if o.startswith("--")}
    return names - {"--help"}


def test_no_error_message_spells_an_option_by_hand():
    """Errors name options through the parser (commands.errors.option_label), so renaming one renames its errors."""
    options = _registered_options()
    found = []
    for path in sorted((REPO / "commands").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not isinstance(node, ast.Raise) or node.exc is None:
                continue
            for constant in ast.walk(node.exc):
                if isinstance(constant, ast.Constant) and isinstance(constant.value, str):
                    spelled = {word.strip(".,:;'\"()`") for word in constant.value.split() if word.startswith("--")}
                    found += [f"{path.relative_to(REPO)}:{node.lineno}: {o}" for o in spelled & options]
    assert not found, "error messages with an option spelled by hand:\n" + "\n".join(found)


def test_library_errors_are_labelled_with_the_option_the_user_gave(cli, tasks):
    cases = [(["replay", "--where", "nonsense"], "--where: 'nonsense': expected FIELD=VALUE"),
             (["replay", "--since", "last tuesday"], "--since: 'last tuesday' is not an RFC 3339 timestamp"),
             (["replay", "--since", "2026-02-01T00:00:00Z", "--until", "2026-01-01T00:00:00Z"],
              "--since: 2026-02-01T00:00:00Z is after the end of the range (2026-01-01T00:00:00Z)"),
             (["audit", "query", "--until", "soon"], "--until: 'soon' is not an RFC 3339 timestamp")]
    for args, message in cases:
        done = cli(*args)
        assert done.exit_code == 2 and one_error_line(done.stderr).startswith(f"lokilog: error: {message}"), args


# 5 -----------------------------------------------------------------------------------------------

def test_an_undecodable_type_is_blamed_on_the_type(loki):
    loki.mkdir()
    done = subprocess.run([sys.executable.encode(), b"-m", b"commands", b"emit", b"\xff"], capture_output=True,
                          timeout=60, env=subprocess_env(LOKI_DIR=str(loki)))
    assert done.returncode == 2
    assert one_error_line(done.stderr.decode()) == "lokilog: error: type: b'\\xff' is not valid UTF-8"
    source = subprocess.run([sys.executable.encode(), b"-m", b"commands", b"emit", b"task", b"-s", b"r\xfe"],
                            capture_output=True, timeout=60, env=subprocess_env(LOKI_DIR=str(loki)))
    assert one_error_line(source.stderr.decode()) == "lokilog: error: --source: b'r\\xfe' is not valid UTF-8"
    assert not (loki / "events" / "log").exists() or not any((loki / "events" / "log").iterdir())


def test_audit_verify_against_a_malformed_or_missing_anchor(cli, tasks):
    assert cli("audit", "sync").exit_code == 0
    malformed = cli("audit", "verify", "--against", "sha256:deadbeef")
    assert malformed.exit_code == 2
    assert one_error_line(malformed.stderr).startswith("lokilog: error: --against: 'sha256:deadbeef' is not a head hash")
    absent = cli("audit", "verify", "--against", "sha256:" + "ab" * 32)
    assert absent.exit_code == 1 and "None" not in absent.stdout
    assert absent.stdout.startswith("audit chain BROKEN: anchor sha256:abab")
    head = json.loads(cli("audit", "head", "--json").stdout)["hash"]
    assert cli("audit", "verify", "--against", head.removeprefix("sha256:").upper()).exit_code == 0


# 6 -----------------------------------------------------------------------------------------------

def test_state_refuses_seqs_past_the_head_and_a_reversed_diff(cli, tasks):
    past = cli("state", "run-state", "--at-seq", "99999")
    assert past.exit_code == 2 and one_error_line(past.stderr) == (
        "lokilog: error: --at-seq: seq 99999 is past the end of the log (head seq 6)")
    reversed_ = cli("state", "run-state", "--diff", "5", "1")
    assert reversed_.exit_code == 2 and "--diff: 5 1: the first point comes after the second" in reversed_.stderr
    beyond = cli("state", "run-state", "--diff", "1", "99")
    assert beyond.exit_code == 2 and "--diff: seq 99 is past the end of the log" in beyond.stderr
    fine = json.loads(cli("state", "run-state", "--diff", "1", "6").stdout)
    assert (fine["from_seq"], fine["to_seq"]) == (1, 6)
    assert json.loads(cli("state", "run-state", "--at-seq", "6").stdout)["seq"] == 6


# 7 -----------------------------------------------------------------------------------------------

def test_replay_into_head_ends_quietly(loki):
    with FileEventLog(loki) as log:
        log.append_many([NewEvent(type="task", source="runner", payload={"action": "start", "task_id": f"t{i}",
                                                                         "pad": "x" * 100}) for i in range(3000)])
    script = f'"{sys.executable}" -m commands replay | head -1; echo "status=${{PIPESTATUS[0]}}" >&2'
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60,
                          env=subprocess_env(LOKI_DIR=str(loki)))
    assert len(done.stdout.splitlines()) == 1 and "task.start" in done.stdout
    assert done.stderr == "status=0\n"


# 8 -----------------------------------------------------------------------------------------------

def test_version(cli):
    from importlib.metadata import version

    done = cli("--version")
    assert done.exit_code == 0 and done.stdout.startswith(f"lokilog {version('lokilog')} (Python 3.")


def test_checkpoint_show_accepts_latest_like_rollback(cli, tasks):
    made = json.loads(cli("checkpoint", "create", "-m", "first", "--json").stdout)["id"]
    newest = json.loads(cli("checkpoint", "create", "-m", "second", "--json").stdout)["id"]
    assert made != newest
    shown = json.loads(cli("checkpoint", "show", "latest", "--json").stdout)
    assert shown["record"]["id"] == newest


def test_checkpoint_show_latest_without_checkpoints(cli, loki):
    loki.mkdir()
    done = cli("checkpoint", "show", "latest")
    assert done.exit_code == 1 and "there is no checkpoint yet" in one_error_line(done.stderr)


def test_metrics_server_answers_404_for_unknown_paths(tasks):
    from subscribers.prometheus import MetricsServer

    with MetricsServer(tasks, 0) as server:
        base = f"http://{server.host}:{server.port}"
        with urllib.request.urlopen(base + "/metrics", timeout=10) as response:
            assert response.status == 200 and b"loki_events_total" in response.read()
        for path in ("/nope", "/", "/metrics/extra"):
            with pytest.raises(urllib.error.HTTPError) as caught:
                urllib.request.urlopen(base + path, timeout=10)
            assert caught.value.code == 404 and b"/metrics" in caught.value.read()
            caught.value.close()


def test_telemetry_off_says_where_it_wrote(tmp_path, loki):
    home = tmp_path / "home"
    home.mkdir()
    done = run_lokilog("telemetry", "off", loki=loki, HOME=str(home))
    assert done.returncode == 0 and done.stdout == f"Telemetry off (stored in {home / '.loki' / 'config'}).\n"
    assert "TELEMETRY_DISABLED=true" in (home / ".loki" / "config").read_text()


# the mapping itself --------------------------------------------------------------------------------

FAILING = """
from commands.cli import app, main

@app.command("boom")
def boom():
    raise ValueError("a bug\\non two lines")

main()
"""


def test_a_bug_is_one_line_and_its_traceback_only_with_debug(tmp_path):
    script = tmp_path / "failing_lokilog.py"
    script.write_text(FAILING)
    loki = tmp_path / ".loki"

    def run(*args: str, **env: str):
        return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=60,
                              env=subprocess_env(LOKI_DIR=str(loki), HOME=str(tmp_path), LOKI_TELEMETRY="off", **env))

    plain = run("boom")
    assert plain.returncode == 1
    assert one_error_line(plain.stderr) == ("lokilog: error: internal error: ValueError: a bug on two lines "
                                            "(run with --debug or LOKI_DEBUG=1 for the traceback)")
    for debug in (run("--debug", "boom"), run("boom", LOKI_DEBUG="1")):
        assert debug.returncode == 1
        assert debug.stderr.startswith("Traceback (most recent call last):") and 'in boom' in debug.stderr
        assert debug.stderr.splitlines()[-1].startswith("lokilog: error: internal error: ValueError")
    handled = run("--debug", "--loki-dir", str(tmp_path / "no" / ".loki"), "emit", "task")
    assert handled.returncode == 2 and "LokiDirError" in handled.stderr


# 9 -----------------------------------------------------------------------------------------------

def test_the_readme_says_where_the_demo_writes_and_how_to_install_the_ts_client():
    readme = (REPO / "README.md").read_text()
    assert "`lokilog demo` writes into a new temporary directory" in readme
    assert "npm pack" in readme and "npm install /path/to/lokilog/scripts/ts/lokilog-client-" in readme
    version = json.loads((REPO / "scripts" / "ts" / "package.json").read_text())["version"]
    assert f"lokilog-client-{version}.tgz" in readme
    assert "pip install -e '.[test," in readme
