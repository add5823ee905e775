"""A real `lokilog serve` for tests: a subprocess on 127.0.0.1 and a free port, stopped afterwards."""
from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import subprocess_env

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("sse_starlette")


@dataclass
class Server:
    url: str
    port: int
    loki: Path
    process: subprocess.Popen
    session_token: str | None


@contextmanager
def running_server(loki: Path, *args: str, lifetime: float = 240, startup: float = 30, **env: str):
    """Start `lokilog serve --port 0` over ``loki``; yield once it listens; terminate it after."""
    process = subprocess.Popen(
        [sys.executable, "-m", "commands", "serve", "--port", "0", "--json", "--duration", str(lifetime), *args],
        env=subprocess_env(LOKI_DIR=str(loki), **env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )
    try:
        info = json.loads(_first_line(process, startup))
        yield Server(info["url"], info["port"], loki, process, info["token"])
    finally:
        stop(process)


def _first_line(process: subprocess.Popen, timeout: float) -> str:
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if selector.select(timeout=0.1):
            line = process.stdout.readline()
            if line:
                return line
        if process.poll() is not None:
            raise AssertionError(f"lokilog serve exited {process.returncode}: {process.stderr.read()}")
    raise AssertionError("lokilog serve did not start in time")


def stop(process: subprocess.Popen, timeout: float = 10) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
    for stream in (process.stdout, process.stderr):
        if stream:
            stream.close()


def make_demo(directory: Path) -> Path:
    """Run `lokilog demo` into ``directory`` (in-process: only the server needs a process) and return its `.loki/`."""
    from typer.testing import CliRunner

    from commands.cli import app

    done = CliRunner().invoke(app, ["demo", str(directory)], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    return directory / ".loki"


def create_token(loki: Path, *scopes: str, name: str) -> str:
    """Create a stored token as `lokilog token create` does (tests of that command run it for real)."""
    from commands.serve.token_store import TokenStore

    return TokenStore(loki, env={}).create(name, scopes).token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
