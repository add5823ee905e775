"""What `lokilog` imports to start: a heavy import creeping back fails here, not in a timing."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib.metadata import packages_distributions, requires
from pathlib import Path

import pytest

from conftest import subprocess_env

#: Runs the console entry point with the given arguments and writes sys.modules at exit.
PROBE = """\
import atexit, json, sys
out = sys.argv[1]
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
sys.argv = ["lokilog", *sys.argv[2:]]
from commands.cli import main
main()
"""

#: Never needed to emit one event: rendering, policy files, HTTP, exposition, file watching.
HEAVY = {"rich", "pygments", "markdown_it", "yaml", "httpx", "prometheus_client", "watchdog"}


#: CLI modules whose registries (demo sections, doctor checks) other modules add to.
SHARED_CLI_MODULES = {"commands.demo_cli", "commands.doctor_cli"}


def imported_by(tmp_path: Path, *args: str) -> set[str]:
    out = tmp_path / "modules.json"
    done = subprocess.run([sys.executable, "-c", PROBE, str(out), "--loki-dir", str(tmp_path / ".loki"), *args],
                          env=subprocess_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return set(json.loads(out.read_text()))


def closure(distribution: str) -> set[str]:
    """The distribution and everything it requires (unconditional requirements only)."""
    seen, todo = set(), [distribution]
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in seen:
            continue
        seen.add(name)
        todo += [re.match(r"[A-Za-z0-9._-]+", r).group(0) for r in requires(name) or () if ";" not in r]
    return seen


def test_emit_imports_only_the_log_commands_and_no_heavy_package(tmp_path):
    modules = imported_by(tmp_path, "emit", "task", "-a", "x")
    tops = {m.split(".")[0] for m in modules}
    assert not tops & HEAVY
    assert not tops & {"projections", "subscribers"}
    assert {m for m in modules if m.startswith("commands.")} == {
        "commands.cli", "commands.context", "commands.crash_capture", "commands.crash_cli",
        "commands.errors", "commands.log_cli", "commands.output", "commands.payloads"}
    assert not {"eventlog.scrub", "eventlog.secrets", "eventlog.stats"} & modules


def test_emit_needs_no_third_party_package_but_msgspec_and_typer_with_its_own(tmp_path):
    owners = packages_distributions()
    tops = {m.split(".")[0] for m in imported_by(tmp_path, "emit", "task")} - set(sys.stdlib_module_names)
    used = {re.sub(r"[-_.]+", "-", d).lower() for top in tops for d in owners.get(top, ())}
    allowed = {"lokilog", "setuptools", "msgspec"} | closure("typer")
    assert used <= allowed, used - allowed


@pytest.mark.parametrize("args", [("tail", "-n", "20"), ("verify",), ("--help",)])
def test_reading_commands_and_help_stay_light(tmp_path, args):
    modules = imported_by(tmp_path, *args)
    assert not {m.split(".")[0] for m in modules} & HEAVY
    if args[0] != "--help":
        assert not [m for m in modules if m.startswith(("projections", "subscribers"))]


def test_status_imports_the_projections_but_not_the_subscribers(tmp_path):
    modules = imported_by(tmp_path, "status")
    assert "projections.run_state" in modules
    assert not {m.split(".")[0] for m in modules} & (HEAVY - {"watchdog"})
    assert not [m for m in modules if m.startswith("subscribers.")]


def test_a_command_missing_from_the_table_still_runs(tmp_path):
    from commands.cli import COMMAND_HOMES, command_name

    assert "demo" not in COMMAND_HOMES  # every module adds to the demo, so all register
    assert command_name(["--loki-dir", "x", "emit", "task"]) == "emit"
    assert command_name(["--loki-dir=x", "--help"]) is None
    modules = imported_by(tmp_path, "--help")
    assert "commands.sync_cli" in modules  # the full listing


def test_every_command_in_the_table_lives_where_the_table_says(tmp_path):
    from commands.cli import COMMAND_HOMES, app  # noqa: F401 - registers everything
    import typer.main

    group = typer.main.get_command(app)
    listed = set(group.list_commands(None))
    assert set(COMMAND_HOMES) <= listed
    for name, home in COMMAND_HOMES.items():
        cli_modules = {m for m in imported_by(tmp_path, name, "--help") if m.endswith("_cli")}
        assert cli_modules - {"commands.crash_cli"} <= {home} | SHARED_CLI_MODULES, name
        assert home in cli_modules, name
