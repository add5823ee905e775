"""End-to-end smoke test: the README's main job works as a newcomer runs it."""
from conftest import run_lokilog


def test_demo_emits_a_simulated_run_into_a_fresh_directory(tmp_path):
    result = run_lokilog("demo", str(tmp_path / "run"), loki=tmp_path / "unused")
    assert result.returncode == 0, result.stderr
    assert "Emitted 25 events" in result.stdout
    assert "task.failed" in result.stdout
    assert (tmp_path / "run" / ".loki" / "events" / "log" / "00000000000000000001.jsonl").exists()
