"""`lokilog ingest [--watch]` and `lokilog doctor`, in-process and as real processes."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import run_lokilog, subprocess_env
from eventlog import FileEventLog, LogSettings
from legacy_fixtures import append_flat, dual_write, flat_line, nested, write_pending


def test_ingest_reports_counts_and_bad_files_with_exit_code_1(cli, loki):
    dual_write(loki, nested("a1b2c3d4", "task", "hook", "2026-02-21T10:00:00.000Z", {"action": "x"}))
    bad = loki / "events" / "pending" / "2026-02-21T10-00-01Z_0000beef.json"
    bad.write_text("{")
    result = cli("ingest", "--json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert (report["ingested"], report["twins"], report["flat_lines"]) == (1, 1, 1)
    assert report["bad"] == [{"path": str(bad), "reason": report["bad"][0]["reason"]}]
    assert "not valid JSON" in report["bad"][0]["reason"]
    bad.unlink()
    result = cli("ingest")
    assert result.exit_code == 0
    assert result.output.startswith("ingested 0, already stored 0, second copies 0, bad 0")


def test_ingest_watch_keeps_ingesting_until_sigterm(loki):
    loki.mkdir(parents=True)
    proc = subprocess.Popen([sys.executable, "-m", "commands", "ingest", "--watch", "--interval", "0.05", "--json"],
                            env=subprocess_env(LOKI_DIR=str(loki)), stdout=subprocess.PIPE, text=True)
    try:
        append_flat(loki, flat_line("2026-02-21T10:00:00Z", "session_start", {"provider": "claude"}))
        write_pending(loki, nested("a1b2c3d4", "task", "runner", "2026-02-21T10:00:01.000Z", {"action": "x"}))
        _wait_for(lambda: _count(loki) == 2)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert sum(json.loads(line)["ingested"] for line in out.splitlines()) == 2


def test_doctor_reports_legacy_state_lock_holder_and_disk(cli, loki):
    write_pending(loki, nested("a1b2c3d4", "task", "runner", "2026-02-21T10:00:00.000Z", {"action": "x"}))
    append_flat(loki, flat_line("2026-02-21T10:00:01Z", "task", {"action": "y"}) + b'{"timestamp":"2026')
    result = cli("doctor", "--json")
    assert result.exit_code == 0, result.output
    sections = json.loads(result.output)["sections"]
    assert len(sections["legacy files"]["not_yet_ingested"]) == 1
    assert sections["flat files"]["flat_files"][0]["read_to"] == 0
    cli("ingest")
    holder = subprocess.Popen(
        ["flock", "-x", str(loki / "events" / "log.lock"), "-c", "read line"], stdin=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: json.loads(cli("doctor", "--json").output)["sections"]["lock"]["held"])
        text = cli("doctor").output
        sections = json.loads(cli("doctor", "--json").output)["sections"]
    finally:
        holder.communicate("\n", timeout=30)
    assert sections["legacy files"]["not_yet_ingested"] == []
    flat = sections["flat files"]["flat_files"][0]
    assert flat["unterminated_tail"] and flat["unread_bytes"] == len(b'{"timestamp":"2026')
    assert sections["lock"]["holders"] and f"pid {sections['lock']['holders'][0]}" in text
    assert "ends without a newline" in text and "[ok] disk" in text


def test_doctor_sections_can_be_added_and_a_failing_one_does_not_hide_the_rest(cli, loki, monkeypatch):
    from commands import doctor_cli

    monkeypatch.setattr(doctor_cli, "CHECKS", list(doctor_cli.CHECKS))
    doctor_cli.add_check("dead letters", lambda paths: doctor_cli.Section(doctor_cli.WARN, ["3 waiting"], {"n": 3}))
    doctor_cli.add_check("broken", lambda paths: 1 / 0)
    result = cli("doctor")
    assert result.exit_code == 1
    assert "[warn] dead letters\n  3 waiting" in result.output
    assert "[problem] broken\n  the check failed: ZeroDivisionError" in result.output
    assert "[ok] lock" in result.output


def test_tail_sees_loki_mode_events_without_an_explicit_ingest(loki):
    append_flat(loki, flat_line("2026-02-21T10:00:00Z", "session_start", {"provider": "claude"}))
    result = run_lokilog("tail", "-n", "5", loki=loki)
    assert result.returncode == 0, result.stderr
    assert "session.start" in result.stdout and "runner" in result.stdout


def _count(loki: Path) -> int:
    with FileEventLog(loki, settings=LogSettings()) as log:
        return sum(1 for _ in log.read(ingest=False))


def _wait_for(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
