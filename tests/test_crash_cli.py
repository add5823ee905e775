"""`lokilog crash show|submit` against a real HTTP server on 127.0.0.1, and `lokilog telemetry`."""
from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from conftest import run_lokilog, subprocess_env
from eventlog import FileEventLog
from eventlog.redaction.scrub import WHITELIST, build_payload, validate_payload

TRACE = ('Traceback (most recent call last):\n  File "/home/ujoe/app/run.py", line 3, in main\n'
         '  File "/home/ujoe/app/db.py", line 9, in connect\nConnectionError: no route to 10.9.8.7 for joe@x.org\n')


class Collector:
    """A real HTTP server that records what it receives and answers with a chosen status."""

    def __init__(self, status: int = 202, location: str | None = None) -> None:
        self.received: list[tuple[str, bytes]] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                collector.received.append((self.path, body))
                self.send_response(collector.status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.status = status
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def server():
    collector = Collector()
    yield collector
    collector.close()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home" / "ujoe"
    path.mkdir(parents=True)
    return path


@pytest.fixture
def crashed(loki: Path) -> Path:
    with FileEventLog(loki) as log:
        log.append("error", "runner", {"action": "crash", "error_class": "ConnectionError", "stack": TRACE,
                                       "message": "password=hunter22 " + TRACE, "os": "Linux", "exit_code": 1})
    return loki


def lokilog(loki: Path, home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    for name in ("LOKI_TELEMETRY", "LOKI_TELEMETRY_DISABLED", "DO_NOT_TRACK", "LOKI_CRASH_ENDPOINT"):
        env.setdefault(name, "")
    return run_lokilog(*args, loki=loki, HOME=str(home), **env)


def report_id(loki: Path, home: Path) -> str:
    listed = lokilog(loki, home, "crash", "--json")
    assert listed.returncode == 0, listed.stderr
    (report,) = json.loads(listed.stdout)
    return report["id"]


def test_list_and_show_print_exactly_the_whitelisted_payload(crashed, home):
    listed = lokilog(crashed, home, "crash")
    assert listed.returncode == 0 and "ConnectionError" in listed.stdout and "connect" in listed.stdout
    rid = report_id(crashed, home)
    shown = lokilog(crashed, home, "crash", "show", rid[:8])
    assert shown.returncode == 0, shown.stderr
    payload = json.loads(shown.stdout)
    assert tuple(payload) == WHITELIST and validate_payload(payload) == []
    assert payload["stack_signature"] == ["connect", "main"] and payload["redactions_count"] >= 4
    for secret in ("hunter22", "ujoe", "10.9.8.7", "joe@x.org", "/home"):
        assert secret not in shown.stdout
    assert "1 occurrence(s)" in shown.stderr


def test_submit_without_an_endpoint_prints_payload_and_issue_url_and_sends_nothing(crashed, home, server):
    result = lokilog(crashed, home, "crash", "submit", report_id(crashed, home)[:12])
    assert result.returncode == 0, result.stderr
    url = next(line for line in result.stdout.splitlines() if line.startswith("https://"))
    query = parse_qs(urlsplit(url).query)
    assert query["title"] == ["Crash: ConnectionError in connect"]
    assert json.loads(query["body"][0].split("```json\n")[1].split("```")[0])["error_class"] == "ConnectionError"
    assert "not set" in result.stderr and server.received == []


def test_submit_posts_the_payload_to_the_endpoint_and_records_the_outcome(crashed, home, server):
    rid = report_id(crashed, home)
    result = lokilog(crashed, home, "crash", "submit", rid, LOKI_CRASH_ENDPOINT=server.url + "/v1/crash?key=t0ken")
    assert result.returncode == 0, result.stderr
    ((path, body),) = server.received
    assert path == "/v1/crash?key=t0ken"
    sent = json.loads(body)
    assert tuple(sent) == WHITELIST and validate_payload(sent) == []
    assert sent == json.loads(lokilog(crashed, home, "crash", "show", rid).stdout)
    with FileEventLog(crashed) as log:
        (outcome,) = [e for e in log.read() if e.type == "crash"]
    assert outcome.action == "submitted" and outcome.payload["status"] == 202
    assert outcome.payload["endpoint_host"] == "127.0.0.1" and "t0ken" not in json.dumps(outcome.payload)


def test_a_refusing_or_redirecting_endpoint_fails_and_is_recorded(crashed, home):
    target = Collector()
    refusing = Collector(status=500)
    redirecting = Collector(status=307, location=target.url + "/elsewhere")
    try:
        rid = report_id(crashed, home)
        failed = lokilog(crashed, home, "crash", "submit", rid, LOKI_CRASH_ENDPOINT=refusing.url)
        moved = lokilog(crashed, home, "crash", "submit", rid, LOKI_CRASH_ENDPOINT=redirecting.url)
    finally:
        for server in (target, refusing, redirecting):
            server.close()
    assert failed.returncode == 1 and "HTTP 500" in failed.stderr
    assert moved.returncode == 1 and target.received == []  # never follows a redirect elsewhere
    with FileEventLog(crashed) as log:
        outcomes = [e.action for e in log.read() if e.type == "crash"]
    assert outcomes == ["submit_failed", "submit_failed"]


@pytest.mark.parametrize("body, reason", [
    ({"scrubbed": False}, "not marked scrubbed"),
    ({"scrubbed": True, "extra": {"message": "hi"}}, "not on the whitelist"),
    ({"scrubbed": True, "extra": {"os": "/home/ujoe"}}, "wrong shape"),
])
def test_submit_refuses_a_report_that_is_not_scrubbed(crashed, home, server, body, reason):
    payload = build_payload({"error_class": "E", "stack": TRACE}, "2026-02-21T10:00:00Z")
    payload.update(body.pop("extra", {}))
    folder = crashed / "crash"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "foreign.json").write_text(json.dumps({**body, "payload": payload}))
    result = lokilog(crashed, home, "crash", "submit", "foreign", LOKI_CRASH_ENDPOINT=server.url)
    assert result.returncode == 1 and reason in result.stderr
    assert server.received == [] and result.stdout == ""


def test_submit_sends_nothing_with_telemetry_off(crashed, home, server):
    result = lokilog(crashed, home, "crash", "submit", report_id(crashed, home), LOKI_CRASH_ENDPOINT=server.url,
                     DO_NOT_TRACK="1")
    assert result.returncode == 1 and "telemetry is off (DO_NOT_TRACK=1)" in result.stderr
    assert server.received == []


def test_submit_refuses_a_plain_http_endpoint_elsewhere(crashed, home):
    result = lokilog(crashed, home, "crash", "submit", report_id(crashed, home), LOKI_CRASH_ENDPOINT="http://example.com/x")
    assert result.returncode == 2 and "https://" in result.stderr


def test_unknown_and_ambiguous_ids_are_clear_errors(crashed, home):
    assert lokilog(crashed, home, "crash").returncode == 0
    (crashed / "crash" / "0-a.json").write_text("{}")
    (crashed / "crash" / "0-b.json").write_text("{}")
    missing = lokilog(crashed, home, "crash", "show", "zzz")
    ambiguous = lokilog(crashed, home, "crash", "show", "0-")
    assert missing.returncode == 1 and "no crash report 'zzz'" in missing.stderr
    assert ambiguous.returncode == 1 and "names 2 crash reports" in ambiguous.stderr


# ------------------------------------------------------------------------------ telemetry


def test_telemetry_off_on_status_persist_in_the_home_config(loki, home):
    config = home / ".loki" / "config"
    config.parent.mkdir()
    config.write_text("# Loki Mode settings\nexport LOKI_PROVIDER=claude\n")
    assert lokilog(loki, home, "telemetry", "off").returncode == 0
    assert config.read_text() == "# Loki Mode settings\nexport LOKI_PROVIDER=claude\nTELEMETRY_DISABLED=true\n"
    status = json.loads(lokilog(loki, home, "telemetry", "status", "--json").stdout)
    assert status["enabled"] is False and "TELEMETRY_DISABLED=true" in status["reason"]
    assert lokilog(loki, home, "telemetry", "on").returncode == 0
    assert config.read_text() == "# Loki Mode settings\nexport LOKI_PROVIDER=claude\n"
    assert json.loads(lokilog(loki, home, "telemetry", "status", "--json").stdout)["enabled"] is True


@pytest.mark.parametrize("env, reason", [
    ({"LOKI_TELEMETRY": "off"}, "LOKI_TELEMETRY=off"),
    ({"LOKI_TELEMETRY_DISABLED": "true"}, "LOKI_TELEMETRY_DISABLED=true"),
    ({"DO_NOT_TRACK": "1"}, "DO_NOT_TRACK=1"),
])
def test_the_environment_overrides_a_stored_on(loki, home, env, reason):
    on = lokilog(loki, home, "telemetry", "on", **env)
    assert "Still off here" in on.stdout
    status = lokilog(loki, home, "telemetry", "status", **env)
    assert f"off ({reason})" in status.stdout


def _on_a_terminal(loki: Path, home: Path, *args: str) -> str:
    """Run lokilog with stderr on a real pseudo-terminal; return what it wrote there."""
    master, slave = pty.openpty()
    env = subprocess_env(LOKI_DIR=str(loki), HOME=str(home))
    for name in ("LOKI_TELEMETRY", "LOKI_TELEMETRY_DISABLED", "DO_NOT_TRACK"):
        env.pop(name, None)
    try:
        done = subprocess.run([sys.executable, "-m", "commands", *args], env=env, stderr=slave,
                              stdout=subprocess.PIPE, timeout=60)
    finally:
        os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert done.returncode == 0
    return b"".join(chunks).decode()


def test_the_disclosure_is_shown_once_on_a_terminal_and_never_again(loki, home):
    first = _on_a_terminal(loki, home, "telemetry", "off")
    assert "lokilog telemetry off" in first and "docs/PRIVACY.md" in first
    assert "DISCLOSURE_SHOWN=true" in (home / ".loki" / "config").read_text()
    assert _on_a_terminal(loki, home, "telemetry", "on") == ""
    assert _on_a_terminal(loki, home, "crash") == ""


def test_no_disclosure_and_no_config_write_without_a_terminal(loki, home):
    assert lokilog(loki, home, "crash").stderr == ""
    assert not (home / ".loki").exists()
