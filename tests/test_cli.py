"""The `lokilog` command line as a user types it: output, --json, errors and exit codes."""
import json
import subprocess
import sys
import time

from eventlog import FileEventLog
from conftest import read_line, run_lokilog, subprocess_env


def test_emit_prints_seq_and_id_and_is_idempotent_with_an_id(cli):
    first = cli("emit", "task", "--source", "runner", "--payload", '{"action":"complete","task_id":"t1"}')
    assert first.exit_code == 0
    assert first.output.startswith("seq 1  id ")
    again = cli("emit", "task", "-s", "runner", "--id", "evt-9", "-a", "start", "n:=3", "name=x")
    repeat = cli("emit", "task", "-s", "runner", "--id", "evt-9", "-a", "start", "n:=3", "name=x", "--json")
    assert again.output.strip() == "seq 2  id evt-9"
    assert json.loads(repeat.output) == {"id": "evt-9", "seq": 2, "status": "duplicate", "stream_version": None,
                                         "pending_file": None}


def test_emit_builds_the_payload_from_pairs_stdin_and_files(cli, tmp_path):
    cli("emit", "metric", "-a", "token_usage", "input_tokens:=1200", "model=m", "cached:=true")
    cli("emit", "note", "--payload", "-", input='{"from": "stdin"}')
    (tmp_path / "p.json").write_text('{"from": "file"}')
    cli("emit", "note", "--payload", f"@{tmp_path / 'p.json'}")
    out = [json.loads(line) for line in cli("replay", "--json").output.splitlines()]
    assert out[0]["payload"] == {"input_tokens": 1200, "model": "m", "cached": True, "action": "token_usage"}
    assert out[1]["payload"] == {"from": "stdin"} and out[2]["payload"] == {"from": "file"}
    assert out[0]["source"] == "cli"


def test_bad_input_is_one_line_exit_two_and_nothing_written(cli, loki):
    for args in (["emit", "task", "--payload", "{oops"], ["emit", "task", "--payload", "[1,2]"],
                 ["emit", "task", "--payload", '{"big": "' + "x" * 1_100_000 + '"}'],
                 ["emit", "task", "novalue"], ["emit", "", "-s", "x"],
                 ["replay", "--from-seq", "5", "--to-seq", "2"], ["replay", "--since", "last tuesday"],
                 ["replay", "--where", "nonsense"]):
        result = cli(*args)
        assert result.exit_code == 2, (args, result.output)
        assert result.output.count("\n") == 1 and result.output.startswith("lokilog: error: "), result.output
    assert not (loki / "events" / "log").exists() or FileEventLog(loki).head_seq == 0


def test_expected_version_conflict_exits_three(cli):
    assert cli("emit", "task", "--stream", "t1", "--expected-version", "0").exit_code == 0
    result = cli("emit", "task", "--stream", "t1", "--expected-version", "0")
    assert result.exit_code == 3
    assert "stream 't1' is at version 1, not the expected 0" in result.output


def test_tail_shows_the_newest_events(cli):
    for i in range(15):
        cli("emit", "task", "-a", "step", f"i:={i}")
    lines = cli("tail", "-n", "3").output.splitlines()
    assert len(lines) == 3 and lines[0].split()[0] == "13" and "task.step" in lines[0]
    assert [json.loads(l)["seq"] for l in cli("tail", "-n", "2", "--json").output.splitlines()] == [14, 15]
    assert cli("tail", "-n", "0").output == ""


def test_tail_follow_prints_events_appended_by_another_process(loki):
    run_lokilog("emit", "task", "-a", "first", loki=loki)
    follower = subprocess.Popen([sys.executable, "-m", "commands", "tail", "-f", "--json"],
                                env=subprocess_env(LOKI_DIR=str(loki)), stdout=subprocess.PIPE, text=True)
    try:
        assert json.loads(read_line(follower.stdout))["seq"] == 1
        run_lokilog("emit", "task", "-a", "second", loki=loki)
        started = time.monotonic()
        assert json.loads(read_line(follower.stdout))["payload"]["action"] == "second"
        assert time.monotonic() - started < 10
    finally:
        follower.terminate()
        follower.wait(timeout=10)
        follower.stdout.close()


def test_replay_filters_and_limits(cli):
    cli("emit", "task", "-s", "runner", "--stream", "task-1", "task_id=t1")
    cli("emit", "session", "-s", "cli")
    cli("emit", "task", "-s", "hook", "task_id=t2")
    seqs = lambda *a: [json.loads(l)["seq"] for l in cli("replay", "--json", *a).output.splitlines()]
    assert seqs("--type", "task") == [1, 3]
    assert seqs("--source", "cli") == [2]
    assert seqs("--stream", "task-1") == [1]
    assert seqs("--where", "payload.task_id=t2") == [3]
    assert seqs("--from-seq", "2", "--to-seq", "3") == [2, 3]
    assert seqs("--limit", "1") == [1]
    table = cli("replay", "--type", "session").output
    assert "session" in table and "cli" in table


def test_stats_counts_by_type_and_source(cli):
    cli("emit", "task", "-s", "runner")
    cli("emit", "task", "-s", "hook")
    cli("emit", "error", "-s", "runner")
    figures = json.loads(cli("stats", "--json").output)
    assert figures["events"] == 3 and figures["segments"] == 1
    assert figures["by_type"] == {"task": 2, "error": 1}
    assert figures["by_source"] == {"runner": 2, "hook": 1}
    assert figures["first_seq"] == 1 and figures["last_seq"] == 3
    assert "task" in cli("stats").output


def test_verify_ok_exits_zero_with_a_summary(cli):
    cli("emit", "task")
    result = cli("verify")
    assert result.exit_code == 0 and result.output.startswith("ok: 1 events")
    assert json.loads(cli("verify", "--json").output)["ok"] is True


def test_verify_names_segment_offset_and_seq_of_a_bad_line(cli, loki):
    for _ in range(3):
        cli("emit", "task")
    segment = loki / "events" / "log" / "00000000000000000001.jsonl"
    lines = segment.read_bytes().splitlines(keepends=True)
    segment.write_bytes(lines[0] + b"garbage\n" + lines[1] + lines[2].replace(b'"seq":3', b'"seq":7'))
    result = cli("verify", "--json")
    report = json.loads(result.output)
    assert result.exit_code == 1
    kinds = [(f["kind"], f["offset"], f["seq"]) for f in report["findings"]]
    assert ("bad_line", len(lines[0]), 2) in kinds
    assert ("seq_gap", len(lines[0]) + 8 + len(lines[1]), 7) in kinds


def test_loki_dir_selects_the_directory(tmp_path):
    other = tmp_path / "elsewhere" / ".loki"
    other.parent.mkdir()  # a .loki/ is created only inside a directory that exists
    assert run_lokilog("emit", "task", loki=other).returncode == 0
    assert (other / "events" / "log").is_dir()
    result = subprocess.run([sys.executable, "-m", "commands", "--loki-dir", str(other), "stats", "--json"],
                            env=subprocess_env(), capture_output=True, text=True, timeout=60)
    assert json.loads(result.stdout)["events"] == 1


def test_help_teaches(cli):
    result = cli("emit", "--help")
    assert result.exit_code == 0
    assert "key:=json" in result.output and "--expected-version" in result.output and "Exit codes" in result.output
