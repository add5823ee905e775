"""Progress bars: drawn on a real terminal (a pseudo-terminal), never in piped or --json output."""
from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from commands.demo import simulated_run
from eventlog import FileEventLog, LogSettings

REPO = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-c", "from commands.cli import main; main()"]


def _filled(loki: Path) -> Path:
    with FileEventLog(loki, settings=LogSettings()) as log:
        log.append_many(simulated_run())
    return loki


def _run(args: list[str], *, terminal: bool, delay: str = "0") -> tuple[int, bytes, bytes]:
    """Run the CLI with stderr on a pseudo-terminal (or a pipe); stdout is always a pipe."""
    env = dict(os.environ, PYTHONPATH=str(REPO), LOKILOG_PROGRESS_DELAY=delay, COLUMNS="100")
    if not terminal:
        done = subprocess.run([*CLI, *args], env=env, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        return done.returncode, done.stdout, done.stderr
    master, slave = pty.openpty()
    proc = subprocess.Popen([*CLI, *args], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    err = b""
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            err += chunk
        out = proc.stdout.read()
        proc.wait(timeout=30)
    finally:
        os.close(master)
        proc.stdout.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, out, err


COMMANDS = {
    "rebuild": (["rebuild"], b"rebuild", b"events/s"),
    "verify": (["verify"], b"verify", b"bytes/s"),
    "replay": (["replay", "--json"], b"replay", b"events/s"),
    "audit verify": (["audit", "verify"], b"audit verify", b"events/s"),
}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_terminal_shows_a_bar_with_rate_and_eta(loki, name):
    args, label, rate = COMMANDS[name]
    _filled(loki)
    code, out, err = _run(["--loki-dir", str(loki), *args], terminal=True)
    assert code == 0, err
    assert label in err and rate in err and b"ETA" in err, err
    assert b"\x1b[" not in out and b"ETA" not in out  # the command's own output stays clean


def test_piped_and_json_output_carry_no_bar(loki):
    _filled(loki)
    code, out, err = _run(["--loki-dir", str(loki), "rebuild"], terminal=False)
    assert code == 0 and err == b"" and b"ETA" not in out
    code, out, err = _run(["--loki-dir", str(loki), "rebuild", "--json"], terminal=True)
    assert code == 0 and b"ETA" not in err and b"\x1b[" not in err
    assert out.startswith(b"{")


def test_quick_work_shows_nothing_even_on_a_terminal(loki):
    _filled(loki)
    code, out, err = _run(["--loki-dir", str(loki), "rebuild"], terminal=True, delay="30")
    assert code == 0 and b"ETA" not in err
