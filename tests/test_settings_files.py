"""Every reader of a `.loki/` settings file accepts the same names: <name>.yaml, .yml or .json."""
from __future__ import annotations

import json

import pytest

from commands.governance.config import read_document
from commands.governance.model import GovernanceConfigError
from commands.policy.store import PolicyStore
from commands.serve.token_store import TokenStore
from eventlog import settings_files
from eventlog.errors import SettingsFileError
from projections.cost.config import load_budgets, load_prices
from subscribers.trackers.config import load_trackers
from subscribers.trackers.errors import TrackerConfigError

POLICIES = {"policies": {"pre_execution": [{"name": "agent-limit", "rule": "active_agents <= 3"}],
                         "resource": [{"name": "tokens", "max_tokens": 100}]}}
CONFIG = {"cost": {"prices": {"m": {"input": 1, "output": 2}}},
          "trackers": {"github": {"repo": "o/r", "url": "http://127.0.0.1:9"}}}
SUFFIXES = [".yaml", ".yml", ".json"]


def _write(loki, name, suffix, doc):
    import yaml

    loki.mkdir(parents=True, exist_ok=True)
    text = json.dumps(doc) if suffix == ".json" else yaml.safe_dump(doc)
    (loki / f"{name}{suffix}").write_text(text)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_policy_engine_and_budgets_read_the_same_policy_file(loki, suffix):
    _write(loki, "policies", suffix, POLICIES)
    assert PolicyStore(loki).evaluate("pre_execution", {"active_agents": 4}).rule == "agent-limit"
    assert [b.name for b in load_budgets(loki)] == ["tokens"]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_prices_trackers_and_tokens_read_the_same_config_file(loki, suffix):
    _write(loki, "config", suffix, CONFIG)
    assert "m" in load_prices(loki).prices
    assert list(load_trackers(loki)) == ["github"]
    store = TokenStore(loki, env={})
    assert store.path.name == f"config{suffix}" and store.configured() == []


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_governance_reads_any_of_the_names(loki, suffix):
    _write(loki, "governance", suffix, {"gates": {}})
    doc, source = read_document(loki)
    assert doc == {"gates": {}} and source.endswith(f"governance{suffix}")


def test_two_files_of_one_name_are_an_error_for_every_reader(loki):
    _write(loki, "config", ".yaml", CONFIG)
    _write(loki, "config", ".json", CONFIG)
    _write(loki, "governance", ".yml", {})
    _write(loki, "governance", ".json", {})
    with pytest.raises(SettingsFileError, match="config.yaml and .*config.json exist; remove one"):
        load_prices(loki)
    with pytest.raises(TrackerConfigError, match="remove one"):
        load_trackers(loki)
    with pytest.raises(GovernanceConfigError, match="governance.yml and .*governance.json exist; remove one"):
        read_document(loki)


def test_a_json_file_that_does_not_parse_names_the_file(loki):
    loki.mkdir(parents=True, exist_ok=True)
    (loki / "policies.json").write_text('{"policies": ')
    with pytest.raises(SettingsFileError, match=r"policies.json: cannot parse: not valid JSON"):
        load_budgets(loki)


def test_the_top_level_must_be_a_mapping_and_empty_is_none(tmp_path):
    assert settings_files.parse(tmp_path / "config.yaml", "") == {}
    assert settings_files.parse(tmp_path / "config.json", " \n") == {}
    with pytest.raises(SettingsFileError, match="config.yml: expected a mapping at the top level"):
        settings_files.parse(tmp_path / "config.yml", "- a\n")


def test_a_token_written_to_a_json_config_keeps_it_json(loki):
    _write(loki, "config", ".json", {"tenant": "acme"})
    store = TokenStore(loki, env={})
    store.create("ci", ["read"])
    doc = json.loads((loki / "config.json").read_text())
    assert doc["tenant"] == "acme" and len(doc["serve"]["tokens"]) == 1
    assert not (loki / "config.yaml").exists()
