"""The pure policy engine: the reference policy set, every built-in rule, and loader errors."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from commands.policy import Decision, PolicyLoadError, evaluate, load_policy_file, parse_policies
from eventlog import InvalidEventError

REFERENCE = Path(__file__).parent / "fixtures" / "policies" / "reference.yaml"


@pytest.fixture(scope="module")
def reference():
    return load_policy_file(REFERENCE)


def test_the_reference_example_loads_as_is(reference):
    assert {p: [r.name for r in rules] for p, rules in reference.points.items()} == {
        "pre_execution": ["project-boundary", "agent-limit"], "resource": ["token-budget"], "data": ["secret-scan"],
    }
    assert len(reference.digest) == 64 and reference.source == str(REFERENCE)


def test_the_same_policy_as_json_loads_identically(reference, tmp_path):
    import yaml

    path = tmp_path / "policies.json"
    path.write_text(json.dumps(yaml.safe_load(REFERENCE.read_text())))
    assert load_policy_file(path).points == reference.points


@pytest.mark.parametrize("context, decision, rule", [
    ({"file_path": "/proj/src/a.py", "project_dir": "/proj", "active_agents": 5}, "allow", None),
    ({"file_path": "src/a.py", "project_dir": "/proj", "active_agents": 1}, "allow", None),
    ({"file_path": "/proj-evil/a.py", "project_dir": "/proj", "active_agents": 1}, "deny", "project-boundary"),
    ({"file_path": "/proj/../etc/passwd", "project_dir": "/proj", "active_agents": 1}, "deny", "project-boundary"),
    ({"file_path": "../../etc/passwd", "project_dir": "/proj/", "active_agents": 1}, "deny", "project-boundary"),
    ({"file_path": "/proj", "project_dir": "/proj", "active_agents": 1}, "allow", None),
    ({"file_path": "/proj/a.py", "project_dir": "proj", "active_agents": 1}, "deny", "project-boundary"),
    ({"file_path": "/proj/a\0.py", "project_dir": "/proj", "active_agents": 1}, "deny", "project-boundary"),
    ({"file_path": "/proj/a.py", "project_dir": "/proj", "active_agents": 6}, "require_approval", "agent-limit"),
    ({"file_path": "/etc/x", "project_dir": "/proj", "active_agents": 6}, "deny", "project-boundary"),
    ({"file_path": "/proj/a.py", "project_dir": "/proj"}, "deny", "agent-limit"),
    ({"file_path": "/proj/a.py", "project_dir": "/proj", "active_agents": "3"}, "deny", "agent-limit"),
    ({"project_dir": "/proj", "active_agents": 1}, "deny", "project-boundary"),
])
def test_pre_execution(reference, context, decision, rule):
    verdict = evaluate(reference, "pre_execution", context)
    assert (verdict.decision.value, verdict.rule) == (decision, rule), verdict.reason


def test_a_symlink_escape_is_caught_through_the_resolved_paths(reference):
    context = {"file_path": "link/x", "project_dir": "/proj", "active_agents": 1,
               "resolved": {"file_path": "/etc/x", "project_dir": "/proj"}}
    verdict = evaluate(reference, "pre_execution", context)
    assert verdict.decision is Decision.DENY and "resolves to '/etc/x'" in verdict.reason


@pytest.mark.parametrize("context, decision, alerts", [
    ({"provider": "claude", "tokens_consumed": 10}, "allow", ()),
    ({"provider": "codex", "tokens_consumed": 500_000}, "allow", (50,)),
    ({"provider": "claude", "tokens_consumed": 960_000}, "allow", (50, 80, 95)),
    ({"provider": "claude", "tokens_consumed": 1_000_001}, "require_approval", ()),
    ({"provider": "gemini", "tokens_consumed": 10}, "deny", ()),
    ({"provider": "claude"}, "deny", ()),
    ({"provider": "claude", "tokens_consumed": -1}, "deny", ()),
])
def test_resource_budget_and_providers(reference, context, decision, alerts):
    verdict = evaluate(reference, "resource", context)
    assert (verdict.decision.value, verdict.alerts) == (decision, alerts), verdict.reason
    if decision != "allow" or alerts:
        assert verdict.rule == "token-budget"


def test_data_scanning_denies_secrets_and_records_only_positions(reference):
    verdict = evaluate(reference, "data", {"content": "export KEY=AKIAIOSFODNN7EXAMPLE"})
    assert verdict.decision is Decision.DENY and verdict.rule == "secret-scan"
    assert verdict.to_dict()["findings"] == [{"detector": "aws_access_key", "category": "secret", "start": 11, "end": 31}]
    assert evaluate(reference, "data", {"content": "a plain sentence"}).decision is Decision.ALLOW
    # The reference rule scans for secrets only; PII needs a pii_detection rule.
    assert evaluate(reference, "data", {"content": "mail jane@example.com"}).decision is Decision.ALLOW
    assert evaluate(reference, "data", {}).decision is Decision.DENY


def test_points_without_rules_allow_and_unknown_points_are_bad_input(reference):
    assert evaluate(reference, "pre_deployment", {}).decision is Decision.ALLOW
    with pytest.raises(InvalidEventError, match="unknown enforcement point 'deploy'"):
        evaluate(reference, "deploy", {})
    with pytest.raises(InvalidEventError, match="must be an object"):
        evaluate(reference, "data", ["content"])


FULL = """
policies:
  pre_deployment:
    - name: gates
      type: required_gates
      gates: [unit_tests, security]
    - name: gates-by-rule
      rule: "passed_gates must include lint"
      action: require_approval
  resource:
    - name: providers
      type: provider_allowlist
      providers: [claude]
  data:
    - name: pii
      type: pii_detection
      action: require_approval
    - name: only-keys
      type: data_scan
      detectors: [aws_access_key]
    - name: disabled-scan
      type: secret_detection
      enabled: false
approvals:
  timeout_seconds: 60
  on_timeout: approve
  webhook:
    url: http://127.0.0.1:9/hook
    secret_env: HOOK_SECRET
    timeout_seconds: 2
    retries: 1
"""


def test_every_rule_kind():
    policy = parse_policies(FULL)
    deploy = lambda gates: evaluate(policy, "pre_deployment", {"passed_gates": gates})  # noqa: E731
    assert (deploy(["unit_tests"]).decision, deploy(["unit_tests"]).rule) == (Decision.DENY, "gates")
    assert "security" in deploy(["unit_tests"]).reason
    assert deploy(["unit_tests", "security"]).decision is Decision.REQUIRE_APPROVAL
    assert deploy(["unit_tests", "security", "lint"]).decision is Decision.ALLOW
    assert deploy("unit_tests").decision is Decision.DENY
    assert evaluate(policy, "resource", {"provider": "codex"}).decision is Decision.DENY
    data = lambda text: evaluate(policy, "data", {"content": text})  # noqa: E731
    assert (data("mail jane@example.com").decision, data("mail jane@example.com").rule) == (Decision.REQUIRE_APPROVAL, "pii")
    assert data("ghp_" + "a" * 36).decision is Decision.ALLOW  # the secret rule is disabled
    assert data("mail jane@example.com AKIAIOSFODNN7EXAMPLE").rule == "only-keys"  # deny beats approval
    assert policy.approvals.on_timeout == "approve" and policy.approvals.webhook.retries == 1


def test_an_empty_file_is_an_empty_policy():
    assert parse_policies("").points == {}
    assert parse_policies("policies:\n  data:\n").points == {"data": ()}


BAD = [
    ("policies:\n  pre_execution:\n    - name: x\n      rule: \"file_path is fine\"\n", 4,
     "policies.pre_execution[0].rule", "unknown rule"),
    ("policies:\n  bogus: []\n", 2, "policies.bogus", "unknown enforcement point"),
    ("policies:\n  data:\n    - name: a\n      type: secret_detection\n      acton: deny\n", 5,
     "policies.data[0].acton", "unknown field"),
    ("policies:\n  data:\n    - name: a\n      type: secret_detection\n      action: maybe\n", 5,
     "policies.data[0].action", "must be one of deny, require_approval, allow"),
    ("policies:\n  data:\n    - type: secret_detection\n", 3, "policies.data[0].name", "is required"),
    ("policies:\n  data:\n    - name: a\n      type: secret_detection\n    - name: a\n      type: pii_detection\n", 5,
     "policies.data[1].name", "duplicate policy name 'a'"),
    ("policies:\n  resource:\n    - name: b\n      max_tokens: lots\n", 4, "policies.resource[0].max_tokens", "must be a number"),
    ("policies:\n  resource:\n    - name: b\n      max_tokens: 10\n      alerts: [50, 180]\n", 5,
     "policies.resource[0].alerts", "percentages"),
    ("policies:\n  data:\n    - name: a\n      type: data_scan\n      detectors: [aws, email]\n", 5,
     "policies.data[0].detectors[0]", "unknown detector 'aws'"),
    ("policies:\n  data:\n    name: a\n", 3, "policies.data", "must be a list"),
    ("policies:\n  data: []\n  data: []\n", 3, "policies.data", "duplicate key"),
    ("approvals:\n  on_timeout: never\n", 2, "approvals.on_timeout", "must be approve or deny"),
    ("approvals:\n  webhook:\n    url: ftp://x\n", 3, "approvals.webhook.url", "http:// or https://"),
    ("approvals:\n  webhook:\n    url: http://x\n    retries: 99\n", 4, "approvals.webhook.retries", "from 0 to 10"),
    ("polices: {}\n", 1, "polices", "unknown field"),
    ("policies:\n  data: [\n", 3, "", "invalid YAML"),
    ("- just\n- a list\n", 1, "", "must be a mapping"),
]


@pytest.mark.parametrize("text, line, field, message", BAD, ids=[b[2] or b[3] for b in BAD])
def test_errors_name_file_line_and_field(tmp_path, text, line, field, message):
    path = tmp_path / "policies.yaml"
    path.write_text(text)
    with pytest.raises(PolicyLoadError, match=message) as caught:
        load_policy_file(path)
    error = caught.value
    assert (error.path, error.line, error.field) == (str(path), line, field)
    assert str(error).startswith(f"{path}:{line}: ")


def test_json_errors_have_lines_too(tmp_path):
    path = tmp_path / "policies.json"
    path.write_text('{\n  "policies": {\n    "data": [\n      {"name": "a", "type": "nope"}\n    ]\n  }\n}\n')
    with pytest.raises(PolicyLoadError, match=r"policies.json:4: policies.data\[0\].type: unknown type 'nope'"):
        load_policy_file(path)
    path.write_text('{\n  "policies": {\n')
    with pytest.raises(PolicyLoadError, match=r"policies.json:3: invalid JSON"):
        load_policy_file(path)


def test_unreadable_files_are_load_errors(tmp_path):
    with pytest.raises(PolicyLoadError, match="cannot read the file"):
        load_policy_file(tmp_path / "missing.yaml")
    (tmp_path / "bin.yaml").write_bytes(b"\xff\xfe")
    with pytest.raises(PolicyLoadError, match="not UTF-8"):
        load_policy_file(tmp_path / "bin.yaml")
