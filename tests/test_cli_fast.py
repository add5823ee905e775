"""The front that runs `--help`, `tail`, `verify`, `status` and `rebuild` without typer (commands/fast_cli.py).

It must print what the typer app prints, and hand everything it does not take to that app.
"""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from conftest import run_lokilog, subprocess_env
from test_cli_startup import imported_by

#: Runs the console entry point under its installed name (the fast help prints only as `lokilog`).
ENTRY = "import sys; sys.argv = ['lokilog', *sys.argv[1:]]; from commands.entry import main; main()"
#: Runs the typer app itself, never the fast front.
TYPER_APP = "import sys; from commands.cli import app; app(sys.argv[1:], prog_name='lokilog')"


def typer_app(*args: str, loki, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", TYPER_APP, *args], env=subprocess_env(LOKI_DIR=str(loki), **env),
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("args", [("--help",), ("tail", "-n", "20"), ("tail", "--json", "-t", "task"),
                                  ("verify",), ("verify", "--json"), ("status",), ("status", "--json"),
                                  ("rebuild", "--json"), ("rebuild", "run-state", "cost")])
def test_the_fast_commands_load_no_typer_rich_or_pydantic(tmp_path, args):
    imported_by(tmp_path, "emit", "task", "-a", "x")
    tops = {m.split(".")[0] for m in imported_by(tmp_path, *args)}
    assert not tops & {"typer", "click", "rich", "pydantic", "pydantic_core", "subscribers"}
    assert ("projections" in tops) == (args[0] in ("status", "rebuild"))
    if args[0] == "tail":
        assert "sqlite3" not in tops  # a log that has no index yet is read without it


def entry(*args: str, loki, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", ENTRY, *args], env=subprocess_env(LOKI_DIR=str(loki), **env),
                          capture_output=True, text=True, timeout=60)


def test_the_fast_top_level_help_is_the_typer_apps_word_for_word(tmp_path):
    from commands.fast_help import top_level_help

    fast = entry("--help", loki=tmp_path, COLUMNS="100")
    app = typer_app("--help", loki=tmp_path, COLUMNS="100")
    assert fast.returncode == app.returncode == 0
    assert fast.stdout == app.stdout == top_level_help.__globals__["HEAD"] + fast.stdout.partition("Commands:\n")[2]
    assert entry("--loki-dir", str(tmp_path), "-h", loki=tmp_path, COLUMNS="80").stdout == app.stdout


def test_every_registered_command_is_in_the_fast_help_in_the_apps_order():
    import typer.main

    from commands.cli import app
    from commands.fast_help import COMMANDS

    group = typer.main.get_command(app)
    assert [name for name, _ in COMMANDS] == list(group.list_commands(None))


def test_a_narrow_terminal_gets_the_typer_apps_own_wrapping(tmp_path):
    fast = entry("--help", loki=tmp_path, COLUMNS="60")
    assert fast.stdout == typer_app("--help", loki=tmp_path, COLUMNS="60").stdout
    assert "tail" in fast.stdout and "[env var:\n" not in fast.stdout


@pytest.mark.parametrize("args", [("tail", "--help"), ("verify", "--help"), ("tail", "-n", "-1"), ("tail", "--bogus"),
                                  ("tail", "extra"), ("verify", "--js"), ("status", "--help"), ("status", "x"),
                                  ("rebuild", "--help"), ("rebuild", "--js"), ("rebuild", "-x"),
                                  ("--version",)])
def test_what_the_front_does_not_take_is_the_typer_apps_to_answer(loki, args):
    fast, app = entry(*args, loki=loki), typer_app(*args, loki=loki)
    assert (fast.returncode, fast.stdout, fast.stderr) == (app.returncode, app.stdout, app.stderr)
    if "--help" in args:
        assert fast.returncode == 0 and "--json" in fast.stdout


@pytest.mark.parametrize("args", [("tail",), ("tail", "-n", "2", "--json"), ("tail", "-t", "task", "-n1"),
                                  ("verify",), ("verify", "--json"), ("status",), ("status", "--json")])
def test_the_front_prints_what_the_typer_app_prints(loki, args):
    for n in range(3):
        assert run_lokilog("emit", "task", "-a", "x", f"n:={n}", loki=loki).returncode == 0
    assert run_lokilog("emit", "session", "-a", "start", "session_id=s1", loki=loki).returncode == 0
    assert run_lokilog("emit", "task", "-a", "create", "task_id=t1", loki=loki).returncode == 0
    fast, app = entry(*args, loki=loki), typer_app(*args, loki=loki)
    assert (fast.returncode, fast.stdout, fast.stderr) == (app.returncode, app.stdout, app.stderr)


@pytest.mark.parametrize("args", [("rebuild",), ("rebuild", "--json"), ("rebuild", "run-state", "cost", "--json"),
                                  ("rebuild", "run-state", "no-such"), ("rebuild", "--json", "trackers")])
def test_the_fast_rebuild_prints_what_the_typer_app_prints_but_the_time(loki, args):
    for n in range(3):
        assert run_lokilog("emit", "task", "-a", "create", f"task_id=t{n}", loki=loki).returncode == 0

    def timeless(text: str) -> str:  # the seconds a rebuild took differ from run to run
        return re.sub(r'"seconds":[0-9.]+|\([0-9.]+s\)', "<time>", text)

    fast, app = entry(*args, loki=loki), typer_app(*args, loki=loki)
    assert (fast.returncode, timeless(fast.stdout), fast.stderr) == (app.returncode, timeless(app.stdout), app.stderr)
    assert fast.returncode == (2 if "no-such" in args else 0)
    assert ("rebuilt" in fast.stdout) == ("no-such" not in args)


def test_a_directory_that_cannot_be_is_named_as_the_typer_app_names_it(tmp_path):
    missing = tmp_path / "no" / ".loki"
    for args, env in ((("--loki-dir", str(missing), "tail"), {}), (("verify",), {"LOKI_DIR": str(missing)})):
        fast = subprocess.run([sys.executable, "-c", ENTRY, *args], env=subprocess_env(**env),
                              capture_output=True, text=True, timeout=60)
        app = subprocess.run([sys.executable, "-c", TYPER_APP, *args], env=subprocess_env(**env),
                             capture_output=True, text=True, timeout=60)
        assert fast.returncode == app.returncode == 2
        assert fast.stderr == app.stderr
