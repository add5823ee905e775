"""The README's two set-up commands, end to end, as a new user runs them: a virtualenv made from
nothing, `pip install -e .`, then `lokilog demo` and `lokilog-emit`. Nothing from the test's own
environment leaks in, so an undeclared dependency fails here."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "LOKI"))}
    return {**env, **extra}


def test_the_readme_names_the_install_and_the_test_command_and_ci_runs_the_latter():
    commands = re.findall(r"```bash\n(.+?)\n```", README.split("## Set-up", 1)[1].split("\n## ", 1)[0])
    assert commands == ["pip install -e . && lokilog demo", "bash scripts/test"]
    assert (REPO / ".ci" / "run").read_text().rstrip().endswith("exec bash scripts/test")


@pytest.mark.timeout(600)
def test_a_fresh_virtualenv_gets_a_working_lokilog_and_lokilog_emit(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    bin_dir = venv / "bin"
    env = _clean_env(PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", VIRTUAL_ENV=str(venv))
    install = subprocess.run([str(bin_dir / "pip"), "install", "--quiet", "--disable-pip-version-check", "-e", "."],
                             cwd=REPO, env=env, capture_output=True, text=True, timeout=540)
    assert install.returncode == 0, install.stderr[-2000:]

    demo = subprocess.run([str(bin_dir / "lokilog"), "demo"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert demo.returncode == 0, demo.stderr[-2000:]
    assert "lokilog replay" in demo.stdout

    loki = tmp_path / "project" / ".loki"
    emitted = subprocess.run([str(bin_dir / "lokilog-emit"), "task", "hook", "start", "task_id=task-001"],
                             env={**env, "LOKI_DIR": str(loki)}, capture_output=True, text=True, timeout=60)
    assert emitted.returncode == 0, emitted.stderr
    event_id = emitted.stdout.strip()
    stored = subprocess.run([str(bin_dir / "lokilog"), "--loki-dir", str(loki), "replay", "--json"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert stored.returncode == 0, stored.stderr
    events = [json.loads(line) for line in stored.stdout.splitlines()]
    assert [(e["id"], e["source"], e["payload"]) for e in events] == [
        (event_id, "hook", {"action": "start", "task_id": "task-001"})]
