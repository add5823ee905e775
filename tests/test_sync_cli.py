"""`lokilog sync ...`: off unless configured, clear errors, status, run, retry, link, import-epic."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from conftest import subprocess_env
from eventlog import FileEventLog

NO_IMPORT_CHECK = """
import sys
from commands.cli import app
try:
    app(["sync", "status"])
except SystemExit:
    pass
from subscribers.registry import enabled_subscribers
assert enabled_subscribers(sys.argv[1]) == []
print("httpx" in sys.modules, "yaml" in sys.modules, "subscribers.trackers.sync" in sys.modules)
"""


def test_nothing_is_imported_when_no_tracker_is_configured(loki: Path):
    loki.mkdir(parents=True)
    done = subprocess.run([sys.executable, "-c", NO_IMPORT_CHECK, str(loki)], env=subprocess_env(LOKI_DIR=str(loki)),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "no trackers configured" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "False False False"


def test_link_validates_references(cli, loki: Path):
    result = cli("sync", "link", "t1", "github", "acme/app/../x#1")
    assert result.exit_code == 2 and "not a valid github reference" in result.output
    assert cli("sync", "link", "t1", "jira", "PROJ-12").exit_code == 0
    with FileEventLog(loki) as log:
        assert [e.payload for e in log.read()] == [
            {"action": "linked", "tracker": "jira", "task_id": "t1", "ref": "PROJ-12"}]


@pytest.mark.parametrize("text, message", [
    ("trackers:\n  gitlab: {}\n", "unknown tracker 'gitlab'"),
    ("trackers:\n  jira: {}\n", "base_url must be an http(s) URL"),
    ("trackers:\n  github:\n    max_retries: many\n", "max_retries must be a number"),
    ("trackers: [\n", "not valid YAML"),
])
def test_config_errors_are_one_line_and_exit_2(cli, loki: Path, text: str, message: str):
    loki.mkdir(parents=True)
    (loki / "config.yaml").write_text(text)
    result = cli("sync", "status")
    assert result.exit_code == 2 and message in result.output


def test_status_run_and_retry_against_a_real_server(cli, loki: Path, monkeypatch):
    pytest.importorskip("httpx")
    from fake_trackers import FakeTrackers
    from test_trackers_sync import ENV, emit_run, write_config

    fake = FakeTrackers()
    try:
        for key, value in ENV.items():
            monkeypatch.setenv(key, value)
        write_config(loki, fake.url)
        fake.add_jira("PROJ-1")
        fake.add_linear("lin-1")
        emit_run(loki)
        status = msgspec.json.decode(cli("sync", "status", "--json").output)
        assert {r["tracker"]: r["pending"] for r in status["trackers"]} == {"jira": 3, "linear": 3, "github": 3}
        assert all(r["credentials"] for r in status["trackers"])
        fake.fail("500", count=100, match="/graphql")
        result = cli("sync", "run")
        assert result.exit_code == 1 and "linear: 0 synced, 3 failed" in result.output
        assert "jira: 3 synced" in result.output
        text = cli("sync", "status").output
        assert "HTTP 500" in text and _no_secrets(text)
        fake.faults.clear()
        result = cli("sync", "retry", "--tracker", "linear")
        assert result.exit_code == 0 and "linear: 3 synced" in result.output
    finally:
        fake.stop()


def _no_secrets(text: str) -> bool:
    from fake_trackers import GITHUB_TOKEN, JIRA_TOKEN, LINEAR_KEY

    return not any(secret in text for secret in (JIRA_TOKEN, LINEAR_KEY, GITHUB_TOKEN))


def test_import_epic_writes_a_prd(cli, loki: Path, monkeypatch):
    pytest.importorskip("httpx")
    from fake_trackers import FakeTrackers
    from test_trackers_sync import ENV, write_config

    fake = FakeTrackers()
    try:
        for key, value in ENV.items():
            monkeypatch.setenv(key, value)
        write_config(loki, fake.url)
        description = {"type": "doc", "version": 1, "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "Ship the parser."}]}]}
        fake.add_jira("PROJ-1", summary="Parser epic", description=description, issuetype="Epic")
        fake.add_jira("PROJ-2", summary="Tokenizer", parent="PROJ-1", status="Done")
        fake.add_jira("PROJ-3", summary="Grammar ${{ secrets.X }}", parent="PROJ-1")
        result = cli("sync", "import-epic", "PROJ-1")
        assert result.exit_code == 0, result.output
        prd = (loki / "prd" / "PROJ-1.md").read_text()
        assert prd.startswith("# Parser epic\n") and "Ship the parser." in prd
        assert "- [x] PROJ-2: Tokenizer" in prd and "- [ ] PROJ-3: Grammar $ {{ secrets.X }}" in prd
    finally:
        fake.stop()


def test_a_missing_http_client_is_a_clear_error(loki: Path):
    loki.mkdir(parents=True)
    (loki / "config.yaml").write_text("trackers:\n  github: {}\n")
    with FileEventLog(loki) as log:
        log.append("task", "runner", {"action": "created", "task_id": "t1"})
        log.append("tracker", "cli", {"action": "linked", "tracker": "github", "task_id": "t1", "ref": "a/b@abcdef1"})
    script = "import sys; sys.modules['httpx'] = None\nfrom commands.cli import main\nmain()"
    done = subprocess.run([sys.executable, "-c", script, "sync", "run"], capture_output=True, text=True, timeout=60,
                          env=subprocess_env(LOKI_DIR=str(loki), GITHUB_TOKEN="x"))
    assert done.returncode == 2 and "pip install 'lokilog[trackers]'" in done.stderr
