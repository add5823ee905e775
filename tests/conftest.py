"""Shared fixtures: real directories on disk, the CLI in-process and as a real subprocess."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eventlog import FileEventLog, LogSettings
from eventlog.fsutil import is_tmpfs

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def loki(tmp_path: Path) -> Path:
    """A fresh `.loki/` directory on a disk-backed file system (fsync means something there)."""
    root = tmp_path / ".loki"
    if sys.platform.startswith("linux") and is_tmpfs(tmp_path):
        pytest.skip("durability tests need a disk-backed directory, not tmpfs")
    return root


@pytest.fixture
def log(loki: Path):
    """A FileEventLog on a fresh `.loki/`, closed after the test."""
    with FileEventLog(loki, settings=LogSettings()) as opened:
        yield opened


@pytest.fixture
def cli(loki: Path, monkeypatch):
    """Invoke `lokilog` in-process against the fresh `.loki/`: cli("emit", "task", ...)."""
    from commands.cli import app

    monkeypatch.setenv("LOKI_DIR", str(loki))
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(app, list(args), input=input, catch_exceptions=False)

    return invoke


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for a child `python -m commands` that imports this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def run_lokilog(*args: str, loki: Path, timeout: float = 60, input: str | None = None, **env: str):
    """Run `lokilog` as a real process (python -m commands) against ``loki``."""
    return subprocess.run(
        [sys.executable, "-m", "commands", *args],
        env=subprocess_env(LOKI_DIR=str(loki), **env),
        capture_output=True, text=True, timeout=timeout, input=input,
    )


@pytest.fixture(autouse=True)
def _no_thread_leaks():
    """Fail a test that leaves threads running behind it."""
    before = set(threading.enumerate())
    yield
    leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    for thread in leaked:
        thread.join(timeout=5)
    leaked = [t for t in leaked if t.is_alive()]
    assert not leaked, f"threads left running: {leaked}"
