"""`lokilog audit ...` in-process and as a real process: exit codes, JSON shapes, reports, residency."""
from __future__ import annotations

import json

from conftest import run_lokilog

from eventlog import FileEventLog, NewEvent


def emit_run(loki):
    with FileEventLog(loki) as log:
        log.append_many([
            NewEvent(type="session", source="runner", payload={"action": "start", "session_id": "s1", "provider": "anthropic"}),
            NewEvent(type="task", source="runner", payload={"action": "created", "task_id": "t1", "agent_id": "agent-1"}),
            NewEvent(type="metric", source="runner", payload={"action": "token_usage", "provider": "openai", "region": "us-east-1"}),
            NewEvent(type="quality", source="runner", payload={"action": "gate", "result": "pass", "agent": "agent-1"}),
        ])


def test_sync_verify_head_and_against(cli, loki):
    emit_run(loki)
    assert cli("audit", "sync").exit_code == 0
    head = json.loads(cli("audit", "head", "--json").stdout)
    assert head["seq"] == 4 and head["entries"] == 4 and head["hash"].startswith("sha256:")
    ok = cli("audit", "verify", "--json")
    assert ok.exit_code == 0
    assert {k: json.loads(ok.stdout)[k] for k in ("valid", "entries", "brokenAt", "error")} == {
        "valid": True, "entries": 4, "brokenAt": None, "error": None}
    assert cli("audit", "verify", "--against", head["hash"]).exit_code == 0
    missing = cli("audit", "verify", "--against", "sha256:" + "0" * 64)
    assert missing.exit_code == 1 and "anchor" in missing.stdout


def test_verify_exits_1_and_names_the_seq_when_tampered(loki):
    emit_run(loki)
    assert run_lokilog("audit", "sync", loki=loki).returncode == 0
    active = loki / "lokilog" / "audit" / "audit.jsonl"
    active.write_bytes(active.read_bytes().replace(b'"who":"agent-1","what":"task.created"', b'"who":"nobody","what":"task.created"'))
    out = run_lokilog("audit", "verify", "--json", loki=loki)
    assert out.returncode == 1
    result = json.loads(out.stdout)
    assert (result["valid"], result["brokenAt"]) == (False, 2) and "modified" in result["error"]
    text = run_lokilog("audit", "verify", "--chain-only", loki=loki)
    assert text.returncode == 1 and "BROKEN at seq 2" in text.stdout


def test_query_filters(cli, loki):
    emit_run(loki)
    cli("audit", "sync")
    rows = [json.loads(line) for line in cli("audit", "query", "--who", "agent-1", "--json").stdout.splitlines()]
    assert [r["what"] for r in rows] == ["task.created", "quality.gate"]
    assert "session.start" in cli("audit", "query", "--what", "session").stdout
    assert cli("audit", "query", "--since", "not-a-time").exit_code == 2


def test_reports_name_missing_evidence_plainly(cli, loki):
    emit_run(loki)
    cli("audit", "sync")
    for framework in ("soc2", "iso27001", "gdpr"):
        report = json.loads(cli("audit", "report", framework, "--json").stdout)
        assert report["integrity"]["valid"] and report["entries"] == 4
        assert any("data handling" in m for m in report["missing"]), report["missing"]
        assert "not an attestation" in report["disclaimer"]
    markdown = cli("audit", "report", "gdpr").stdout
    assert markdown.startswith("# GDPR") and "## Missing evidence" in markdown and "Art. 44" in markdown
    assert cli("audit", "report", "hipaa").exit_code == 2


def test_a_broken_chain_shows_in_the_report(cli, loki):
    emit_run(loki)
    cli("audit", "sync")
    (loki / "lokilog" / "audit" / "audit.jsonl").write_bytes(b"".join((loki / "lokilog" / "audit" / "audit.jsonl").read_bytes().splitlines(True)[1:]))
    report = json.loads(cli("audit", "report", "soc2", "--json").stdout)
    assert not report["integrity"]["valid"] and any("BROKEN" in m for m in report["missing"])


def test_residency_allows_by_policy_and_records_violations_once(cli, loki, monkeypatch):
    emit_run(loki)
    (loki / "residency.json").write_text(json.dumps({"allowed_providers": ["anthropic", "openai"],
                                                     "allowed_regions": ["eu-west-1"]}))
    out = cli("audit", "residency", "--json")
    assert out.exit_code == 1
    decisions = {d["provider"]: d for d in json.loads(out.stdout)["decisions"]}
    assert not decisions["openai"]["allowed"] and "region" in decisions["openai"]["reason"]
    assert not decisions["anthropic"]["allowed"]  # no region named while regions are restricted: fail closed
    cli("audit", "residency")  # checking again records nothing new
    with FileEventLog(loki) as log:
        violations = [e for e in log.read() if e.type == "residency"]
    assert len(violations) == 2 and {v.payload["seq"] for v in violations} == {1, 3}
    cli("audit", "sync")
    assert "residency.violation" in cli("audit", "query", "--what", "residency").stdout
    assert cli("audit", "residency", "--provider", "anthropic", "--region", "eu-west-1", "--no-record").exit_code == 0
    monkeypatch.setenv("LOKI_AIR_GAPPED", "true")
    gapped = cli("audit", "residency", "--provider", "anthropic", "--region", "eu-west-1", "--no-record")
    assert gapped.exit_code == 1 and "air-gapped" in gapped.stdout
    assert cli("audit", "residency", "--provider", "ollama", "--no-record").exit_code == 1  # not in the allowed list
    (loki / "residency.json").unlink()
    assert cli("audit", "residency", "--provider", "ollama", "--no-record").exit_code == 0  # local: fine air-gapped


def test_disabled_sync_writes_nothing(cli, loki, monkeypatch):
    emit_run(loki)
    monkeypatch.setenv("LOKI_AUDIT_DISABLED", "true")
    assert "disabled" in cli("audit", "sync").stdout and not (loki / "lokilog" / "audit").exists()


def test_demo_shows_the_head_and_a_caught_tampering(tmp_path):
    out = run_lokilog("demo", str(tmp_path / "demo"), loki=tmp_path / "unused")
    assert out.returncode == 0, out.stderr
    section = out.stdout.split("== Audit trail")[1]
    assert "verify: valid=True" in section and "valid=False brokenAt=5" in section
