"""`lokilog policy check`, `approve`, `deny`, `approvals`: exit codes and what they record."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_lokilog, subprocess_env

REFERENCE = Path(__file__).parent / "fixtures" / "policies" / "reference.yaml"


@pytest.fixture
def policies(loki):
    loki.mkdir(parents=True)
    shutil.copyfile(REFERENCE, loki / "policies.yaml")
    return loki / "policies.yaml"


def test_exit_codes_of_a_real_process(policies, loki, tmp_path):
    project = str(tmp_path)
    cases = [
        ("pre_execution", {"file_path": "src/a.py", "project_dir": project, "active_agents": 2}, 0),
        ("pre_execution", {"file_path": "../x", "project_dir": project, "active_agents": 2}, 1),
        ("pre_execution", {"file_path": "a.py", "project_dir": project, "active_agents": 6}, 3),
        ("nowhere", {}, 2),
    ]
    for point, context, code in cases:
        result = run_lokilog("policy", "check", point, "--context", json.dumps(context), loki=loki)
        assert result.returncode == code, (point, context, result.stdout, result.stderr)
    assert "unknown enforcement point 'nowhere'" in result.stderr
    result = run_lokilog("policy", "check", "data", "--context", "{not json", loki=loki)
    assert result.returncode == 2 and "not valid JSON" in result.stderr


def test_check_prints_the_decision_and_records_it(policies, cli, loki):
    result = cli("policy", "check", "resource", "--context", '{"provider":"claude","tokens_consumed":900000}', "--json")
    out = json.loads(result.stdout)
    assert result.exit_code == 0
    assert (out["decision"], out["rule"], out["alerts"]) == ("allow", "token-budget", [50, 80])
    result = cli("policy", "check", "resource", "-c", '{"provider":"gemini","tokens_consumed":1}')
    assert result.exit_code == 1 and "DENY  resource  rule=token-budget  provider 'gemini' is not allowed" in result.stdout
    replay = cli("replay", "--type", "policy", "--json")
    assert [json.loads(line)["payload"]["decision"] for line in replay.stdout.splitlines()] == ["allow", "deny"]


def test_approve_deny_and_list(policies, cli, tmp_path):
    context = json.dumps({"file_path": "a", "project_dir": str(tmp_path), "active_agents": 8})
    ids = []
    for _ in range(2):
        out = json.loads(cli("policy", "check", "pre_execution", "-c", context, "--json").stdout)
        ids.append(out["approval_id"])
    listing = cli("approvals")
    assert all(i in listing.stdout for i in ids) and "agent-limit" in listing.stdout
    assert cli("approve", ids[0], "--by", "alice").exit_code == 0
    assert cli("deny", ids[1], "--reason", "too many agents").exit_code == 0
    assert cli("approvals").stdout.strip() == "no pending approvals"
    rows = json.loads(cli("approvals", "--all", "--json").stdout)
    assert [(r["status"], r["decided_by"]) for r in rows] == [("granted", "alice"), ("denied", "cli")]
    again = cli("approve", ids[1])
    assert again.exit_code == 3
    missing = cli("approve", "apr-missing")
    assert missing.exit_code == 2


def test_deny_requires_a_reason(policies, cli):
    assert cli("deny", "apr-x").exit_code == 2


def test_check_can_wait_for_the_timeout_to_answer(policies, cli, tmp_path):
    policies.write_text(policies.read_text() + "approvals:\n  timeout_seconds: 1\n  on_timeout: approve\n")
    context = json.dumps({"file_path": "a", "project_dir": str(tmp_path), "active_agents": 8})
    result = cli("policy", "check", "pre_execution", "-c", context, "--wait", "10", "--json")
    assert result.exit_code == 0, result.stdout
    assert json.loads(result.stdout)["approval_status"] == "granted"


def test_two_people_answering_at_once_cannot_both_win(policies, loki, tmp_path):
    context = json.dumps({"file_path": "a", "project_dir": str(tmp_path), "active_agents": 8})
    out = run_lokilog("policy", "check", "pre_execution", "-c", context, "--json", loki=loki)
    approval_id = json.loads(out.stdout)["approval_id"]
    env = subprocess_env(LOKI_DIR=str(loki))
    procs = [subprocess.Popen([sys.executable, "-m", "commands", *args], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for args in (["approve", approval_id], ["deny", approval_id, "--reason", "no"])]
    codes = sorted(p.wait(timeout=60) for p in procs)
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    assert codes == [0, 3]


def test_validate(policies, cli, tmp_path):
    result = cli("policy", "validate")
    assert result.exit_code == 0 and "pre_execution: project-boundary, agent-limit" in result.stdout
    bad = tmp_path / "policies.yaml"
    bad.write_text("policies:\n  data:\n    - name: x\n      type: secret_detection\n      action: block\n")
    result = cli("policy", "validate", str(bad))
    assert result.exit_code == 2
    assert f"{bad}:5: policies.data[0].action: must be one of deny, require_approval, allow" in result.stderr
