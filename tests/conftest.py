"""Shared fixtures: real directories on disk, the CLI in-process and as a real subprocess."""
from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eventlog import FileEventLog, LogSettings
from eventlog.fsutil import is_tmpfs

REPO = Path(__file__).resolve().parent.parent


#: Where durability tests go when the temp directory is on tmpfs: inside the checkout, whose
#: file system is whatever the project lives on (gitignored).
SCRATCH = REPO / ".test-scratch"


@pytest.fixture
def loki(tmp_path: Path) -> Path:
    """A fresh `.loki/` directory. Not necessarily disk-backed: ask for `durable_loki` for that."""
    return tmp_path / ".loki"


def disk_backed_dir(tmp_path: Path, name: str) -> Path:
    """Return a fresh directory on a disk-backed file system; fail (never skip) if there is none."""
    if not (sys.platform.startswith("linux") and is_tmpfs(tmp_path)):
        return tmp_path
    SCRATCH.mkdir(exist_ok=True)
    if is_tmpfs(SCRATCH):
        pytest.fail(f"no disk-backed directory for a durability test: {tmp_path} and {SCRATCH} are tmpfs")
    path = Path(tempfile.mkdtemp(prefix=f"{name[:40]}-", dir=SCRATCH))
    _scratch_dirs.append(path)
    return path


_scratch_dirs: list[Path] = []


@pytest.fixture
def durable_loki(tmp_path: Path, request) -> Path:
    """A fresh `.loki/` on a disk-backed file system, where fsync means something."""
    yield disk_backed_dir(tmp_path, request.node.name) / ".loki"
    while _scratch_dirs:
        shutil.rmtree(_scratch_dirs.pop(), ignore_errors=True)


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


def read_line(pipe, timeout: float = 30):
    """Read one line from a child's pipe, failing the test if none arrives within ``timeout`` s."""
    got: list = []
    reader = threading.Thread(target=lambda: got.append(pipe.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if reader.is_alive():
        pytest.fail(f"no line from the child within {timeout} s")
    return got[0]


def pytest_addoption(parser) -> None:
    parser.addoption("--seed", type=int, default=None,
                     help="Seed for randomised tests (default: $LOKILOG_SEED, else a fresh one, printed).")


@pytest.fixture
def seed(request) -> int:
    """The seed of a randomised test: reported with its result, and given back with --seed N."""
    chosen = request.config.getoption("--seed")
    if chosen is None and os.environ.get("LOKILOG_SEED"):
        chosen = int(os.environ["LOKILOG_SEED"])
    if chosen is None:
        chosen = random.SystemRandom().randrange(1, 2**32)
    request.node.user_properties.append(("seed", chosen))
    return chosen


@pytest.fixture
def rng(seed: int) -> random.Random:
    """A random generator seeded by the `seed` fixture, so a failure can be replayed."""
    return random.Random(seed)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    seeds = [value for key, value in item.user_properties if key == "seed"]
    if seeds and report.when == "call":
        report.sections.append(("seed", f"rerun with: pytest --seed {seeds[0]} '{item.nodeid}'"))


def pytest_sessionfinish(session, exitstatus) -> None:
    """Fail a run with more skips than $LOKILOG_MAX_SKIPS allows (scripts/test sets it)."""
    limit = os.environ.get("LOKILOG_MAX_SKIPS")
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if limit is None or reporter is None:
        return
    skipped = len(reporter.stats.get("skipped", []))
    if skipped > int(limit):
        reporter.write_line(f"{skipped} tests skipped, more than LOKILOG_MAX_SKIPS={limit}: "
                            "install what they need or fix them", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
