"""The policy in force: fail closed, last good kept on a bad edit, reloaded on change by a watcher."""
from __future__ import annotations

import shutil
from pathlib import Path

from commands.policy.engine import UNAVAILABLE_RULE
from commands.policy.model import Decision
from commands.policy.store import PolicyStore, PolicyWatcher

REFERENCE = Path(__file__).parent / "fixtures" / "policies" / "reference.yaml"
AGENTS_3 = "policies:\n  pre_execution:\n    - name: agent-limit\n      rule: \"active_agents <= 3\"\n"
OUTSIDE = {"file_path": "/elsewhere/x", "project_dir": "/proj", "active_agents": 1}


def _install(loki: Path, text: str | None = None, name: str = "policies.yaml") -> Path:
    loki.mkdir(parents=True, exist_ok=True)
    target = loki / name
    if text is None:
        shutil.copyfile(REFERENCE, target)
    else:
        target.write_text(text)
    return target


def test_without_a_policy_file_everything_is_allowed(loki):
    store = PolicyStore(loki)
    assert not store.state.configured
    assert store.evaluate("pre_execution", OUTSIDE).decision is Decision.ALLOW


def test_a_broken_policy_file_fails_closed_and_says_why(loki):
    _install(loki, "policies:\n  pre_execution:\n    - name: x\n      rule: nonsense\n")
    verdict = PolicyStore(loki).evaluate("data", {"content": "hello"})
    assert (verdict.decision, verdict.rule) == (Decision.DENY, UNAVAILABLE_RULE)
    assert "policies.yaml:4: policies.pre_execution[0].rule: unknown rule" in verdict.reason


def test_an_invalid_edit_keeps_the_last_good_policy(loki):
    path = _install(loki)
    store = PolicyStore(loki)
    good = store.state.policy
    path.write_text("policies: [broken\n")
    assert store.reload() is True
    assert store.state.policy is good
    assert "invalid YAML" in store.state.error and "last good policy stays in force" in store.state.error
    assert store.evaluate("pre_execution", OUTSIDE).rule == "project-boundary"
    path.write_text(AGENTS_3)
    store.reload()
    assert store.state.error is None
    assert store.evaluate("pre_execution", {"active_agents": 4}).rule == "agent-limit"


def test_reload_is_a_no_op_when_nothing_changed(loki):
    _install(loki)
    store = PolicyStore(loki)
    assert store.reload() is False


def test_two_policy_files_are_ambiguous_and_fail_closed(loki):
    _install(loki)
    _install(loki, '{"policies": {}}', "policies.json")
    verdict = PolicyStore(loki).evaluate("data", {"content": "x"})
    assert verdict.rule == UNAVAILABLE_RULE and "remove one" in verdict.reason


def test_removing_the_file_keeps_the_last_good_policy(loki):
    path = _install(loki)
    store = PolicyStore(loki)
    path.unlink()
    store.reload()
    assert store.state.policy is not None and "removed" in store.state.error


def test_a_json_policy_file(loki):
    _install(loki, '{"policies": {"pre_execution": [{"name": "cap", "rule": "active_agents <= 1"}]}}', "policies.json")
    assert PolicyStore(loki).evaluate("pre_execution", {"active_agents": 2}).rule == "cap"


def test_the_watcher_reloads_on_change_and_keeps_the_last_good_on_a_bad_edit(loki):
    path = _install(loki)
    store = PolicyStore(loki)
    first = store.state.policy.digest
    with PolicyWatcher(store, interval=5.0):
        path.write_text(AGENTS_3)
        assert store.wait_for(lambda s: s.policy is not None and s.policy.digest != first, timeout=10)
        assert store.evaluate("pre_execution", {"active_agents": 4}).decision is Decision.DENY
        second = store.state.policy.digest
        path.write_text("policies:\n  nowhere: []\n")
        assert store.wait_for(lambda s: s.error is not None, timeout=10)
        assert store.state.policy.digest == second
        assert "policies.yaml:2: policies.nowhere: unknown enforcement point" in store.state.error


def test_the_watcher_polls_when_the_directory_does_not_exist_yet(loki):
    store = PolicyStore(loki)
    with PolicyWatcher(store, interval=0.05):
        _install(loki, AGENTS_3)
        assert store.wait_for(lambda s: s.policy is not None, timeout=10)


def test_stopping_the_watcher_ends_its_threads(loki):
    _install(loki)
    watcher = PolicyWatcher(PolicyStore(loki)).start()
    watcher.stop()
    watcher.stop()  # idempotent
