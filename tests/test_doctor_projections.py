"""`lokilog doctor` shows each projection's position, and a poison event's dead letter."""
import json


def test_doctor_reports_projection_positions_and_dead_letters(cli):
    cli("emit", "task", "-a", "created", "task_id=t1")
    cli("emit", "checkpoint", "-a", "rolled_back", "checkpoint_id=cp-x", "to_seq=not-a-seq")
    assert cli("status").exit_code == 0  # catches the run state up: the rollback is poison to it
    result = cli("doctor", "--json")
    report = json.loads(result.output)
    text = json.dumps(report)
    assert "run-state" in text and "dead_letter_count" in text
    run_state = next(r for r in report["sections"]["projections"]["projections"] if r["name"] == "run-state")
    assert run_state["dead_letter_count"] == 1 and run_state["head_seq"] == 2
    human = cli("doctor").output
    assert "run-state: at seq 2 of 2, 1 dead letter(s)" in human

