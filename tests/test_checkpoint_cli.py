"""`lokilog checkpoint ...` and `lokilog rollback` as people and scripts use them."""
from __future__ import annotations

import json

from conftest import run_lokilog
from test_checkpoints import seed, tree, write


def test_create_list_show_rollback_and_undo(cli, loki):
    seed(loki)
    created = cli("checkpoint", "create", "-m", "before the refactor")
    assert created.exit_code == 0, created.output
    checkpoint_id = created.output.split()[1]
    assert f"lokilog rollback {checkpoint_id}" in created.output

    listed = cli("checkpoint", "list")
    assert listed.output.splitlines()[0].split() == ["ID", "CREATED", "KIND", "LOG", "SEQ", "FILES", "MESSAGE"]
    assert checkpoint_id in listed.output and "before the refactor" in listed.output

    shown = cli("checkpoint", "show", checkpoint_id)
    assert "queue/pending.json" in shown.output and "before the refactor" in shown.output

    before = tree(loki)
    write(loki, "queue/pending.json", "[]")
    after = tree(loki)
    rolled = cli("rollback", checkpoint_id)
    assert rolled.exit_code == 0, rolled.output
    assert "restored  queue/pending.json" in rolled.output
    undo = rolled.output.splitlines()[-1]
    assert undo.startswith("Undo this rollback:  lokilog rollback rb-pre-")
    assert tree(loki) == before
    assert cli(*undo.split("lokilog ")[1].split()).exit_code == 0
    assert tree(loki) == after


def test_json_output(cli, loki):
    seed(loki)
    made = json.loads(cli("checkpoint", "create", "-m", "x", "--json").output)
    assert made["files"] == 4 and made["log_seq"] == 0
    listed = json.loads(cli("checkpoint", "list", "--json").output)
    assert [r["id"] for r in listed] == [made["id"]]
    shown = json.loads(cli("checkpoint", "show", made["id"], "--json").output)
    assert shown["manifest"]["log_seq"] == 0
    rolled = json.loads(cli("rollback", "latest", "--json").output)
    assert rolled["checkpoint_id"] == made["id"] and rolled["undo"].startswith("lokilog rollback rb-pre-")


def test_hostile_ids_exit_2_with_one_line(loki, tmp_path):
    for bad in ("../../etc/passwd", "/etc/passwd", "a" * 300):
        result = run_lokilog("rollback", bad, loki=loki)
        assert result.returncode == 2
        assert result.stderr.startswith("lokilog: error: checkpoint id") and result.stderr.count("\n") == 1


def test_unknown_checkpoint_exits_1(cli, loki):
    seed(loki)
    result = run_lokilog("checkpoint", "show", "cp-nope", loki=loki)
    assert result.returncode == 1 and "no checkpoint 'cp-nope'" in result.stderr


def test_prune_needs_a_rule_and_reports(cli, loki):
    seed(loki)
    assert run_lokilog("checkpoint", "prune", loki=loki).returncode == 2
    assert run_lokilog("checkpoint", "prune", "--older-than", "soon", loki=loki).returncode == 2
    for i in range(3):
        cli("checkpoint", "create", "-m", f"c{i}")
    result = cli("checkpoint", "prune", "--keep", "1")
    assert result.output.startswith("Pruned 2 checkpoint(s); kept 1")


def test_demo_shows_a_rollback_and_its_undo(tmp_path):
    result = run_lokilog("demo", str(tmp_path / "run"), loki=tmp_path / "unused")
    assert result.returncode == 0, result.stderr
    section = result.stdout.split("== Checkpoints and rollback ==")[1]
    assert "cp-demo-1" in section and "pre-rollback" in section
    assert '["task-003"] again' in section and "lokilog rollback rb-pre-" in section


def test_show_a_checkpoint_recorded_in_the_log_only(cli, loki):
    cli("emit", "checkpoint", "-s", "runner", "-a", "created", "checkpoint_id=cp-runner-1", "message=from a runner")
    shown = cli("checkpoint", "show", "cp-runner-1")
    assert shown.exit_code == 0 and "recorded in the log only" in shown.output


def test_a_hostile_checkpoint_event_does_not_break_the_store(cli, loki):
    seed(loki)
    cli("checkpoint", "create", "-m", "ok")
    cli("emit", "checkpoint", "-a", "created", "checkpoint_id=../../etc", "created_by=lokilog")
    listed = cli("checkpoint", "list")
    assert listed.exit_code == 0 and "ok" in listed.output
    assert run_lokilog("rollback", "../../etc", loki=loki).returncode == 2
