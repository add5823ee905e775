"""What `lokilog` imports to start: a heavy import creeping back fails here, not in a timing."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from conftest import run_lokilog, subprocess_env

#: Runs the console entry point with the given arguments and writes sys.modules at exit.
PROBE = """\
import atexit, json, sys
out = sys.argv[1]
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
sys.argv = ["lokilog", *sys.argv[2:]]
from commands.entry import main
main()
"""

#: Never needed to emit one event: rendering, policy files, HTTP, exposition, file watching.
HEAVY = {"rich", "pygments", "markdown_it", "yaml", "httpx", "prometheus_client", "watchdog"}


#: CLI modules any command may load: the entry point's emit parser and typer-free front, and the
#: registries (demo sections, doctor checks) other modules add to.
SHARED_CLI_MODULES = {"commands.emit_cli", "commands.fast_cli", "commands.demo_cli", "commands.doctor_cli",
                      "commands.audit_proofs_cli", "commands.audit_anchor_cli"}


def imported_by(tmp_path: Path, *args: str) -> set[str]:
    out = tmp_path / "modules.json"
    done = subprocess.run([sys.executable, "-c", PROBE, str(out), "--loki-dir", str(tmp_path / ".loki"), *args],
                          env=subprocess_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return set(json.loads(out.read_text()))


#: What `lokilog emit` may load of this project's CLI: its reader of plain command lines, the
#: msgspec import, crash capture. Not argparse's parser while the line is plain, not the telemetry
#: consent (the one-time disclosure is for a terminal, and a hook's stderr is not one), nor the
#: error mapping while nothing fails.
EMIT_COMMAND_MODULES = {"commands.context", "commands.crash", "commands.crash.capture", "commands.emit_cli",
                        "commands.entry", "commands.msgspec_alone", "commands.payloads", "commands.simple_args"}

#: Standard-library modules one emit does without, each a measurable part of a start-up: dataclasses
#: (and the inspect, ast, dis and tokenize it loads; the log's records are msgspec Structs),
#: argparse with gettext and locale (commands/simple_args.py reads a plain line), shutil with its
#: compressors (argparse's width, see commands/argparse_width.py), and typing_extensions, which
#: msgspec would load for what typing has on Python >= 3.11 (commands/msgspec_alone.py).
EMIT_NEVER_LOADS = {"dataclasses", "inspect", "ast", "dis", "tokenize", "argparse", "gettext", "locale", "shutil", "bz2",
                    "lzma", "typing_extensions", "commands.telemetry.consent"}


def test_emit_imports_its_own_parser_and_the_log_only(tmp_path):
    imported_by(tmp_path, "emit", "task", "-a", "x")  # the first emit into a new log makes a full ingest pass
    modules = imported_by(tmp_path, "emit", "task", "-a", "x")
    tops = {m.split(".")[0] for m in modules}
    assert not tops & (HEAVY | {"typer", "pydantic", "argcomplete"})
    assert not tops & {"projections", "subscribers"}
    assert {m for m in modules if m.startswith("commands.")} == EMIT_COMMAND_MODULES
    assert not EMIT_NEVER_LOADS & modules, sorted(EMIT_NEVER_LOADS & modules)
    assert not {"eventlog.redaction.scrub", "eventlog.redaction.secrets", "eventlog.stats"} & modules
    # With nothing new in the drop box or Loki Mode's files, the change check is all of ingest it runs.
    assert "eventlog.ingest_watch" in modules
    assert not {"eventlog.legacy.ingest", "eventlog.legacy.parse", "eventlog.legacy.state", "eventlog.legacy.records"} & modules
    # A fresh id into a log with no index: no index (nor its sqlite), reader, filters, drop box or digests.
    assert not {"eventlog.index", "sqlite3", "eventlog.reader", "eventlog.filters", "eventlog.pending", "eventlog.memory",
                "hashlib", "gzip"} & modules


#: The log package's modules one `lokilog emit` loads today: the append path, plus the ingest pass
#: and the high-water check (index, verify) every fresh open runs. A module joining this set is a
#: start-up cost every hook pays; add it here only on purpose.
EMIT_LOG_MODULES = {
    "eventlog", "eventlog.appends", "eventlog.codec", "eventlog.conditional", "eventlog.config", "eventlog.coverage",
    "eventlog.errors", "eventlog.groupcommit", "eventlog.segment_fds", "eventlog.plainbatch", "eventlog.syncrecord",
    "eventlog.events", "eventlog.filters", "eventlog.forks", "eventlog.fsutil", "eventlog.index", "eventlog.legacy",
    "eventlog.legacy.ingest", "eventlog.legacy.parse", "eventlog.legacy.state", "eventlog.legacy.records",
    "eventlog.legacy.flat", "eventlog.legacy.status", "eventlog.legacy.tally", "eventlog.legacy.moves",
    "eventlog.legacy.passes", "eventlog.ingest_seam",
    "eventlog.ingest_watch", "eventlog.loki_record_files", "eventlog.layout", "eventlog.locking",
    "eventlog.memory", "eventlog.pending", "eventlog.reader", "eventlog.safeio", "eventlog.segments", "eventlog.store",
    "eventlog.store_dropbox", "eventlog.store_index", "eventlog.store_reads", "eventlog.store_tail",
    "eventlog.tailmark", "eventlog.verify",
}


def test_emit_loads_no_log_module_beyond_the_append_path(tmp_path):
    modules = imported_by(tmp_path, "emit", "task", "-a", "x")
    assert {m for m in modules if m.split(".")[0] == "eventlog"} <= EMIT_LOG_MODULES


def test_emit_uses_no_third_party_package_but_msgspec(tmp_path):
    owners = packages_distributions()
    for args in (("emit", "task"), ("emit", "task", "--json", "n:=1")):
        tops = {m.split(".")[0] for m in imported_by(tmp_path, *args)} - set(sys.stdlib_module_names)
        used = {re.sub(r"[-_.]+", "-", d).lower() for top in tops for d in owners.get(top, ())}
        assert used <= {"lokilog", "setuptools", "msgspec", "typing-extensions"}, (args, used)


def test_the_emit_parser_and_the_typer_app_store_the_same_event(tmp_path, cli, loki):
    # In-process through the typer app (as tests and `commands.cli.app` users call it), and as a
    # process through the entry point: one parser behind both.
    assert cli("emit", "task", "-a", "x", "k=v", "n:=3", "-s", "hook", "--id", "one").exit_code == 0
    done = run_lokilog("emit", "task", "k=v", "-a", "x", "n:=3", "--source=hook", "--id", "one", loki=loki)
    assert done.returncode == 0 and "already stored" in done.stdout
    assert run_lokilog("emit", "task", "--expected-version", "x", loki=loki).returncode == 2
    refused = run_lokilog("emit", "task", "x:=nope", loki=loki)
    assert refused.returncode == 2 and refused.stderr.startswith("lokilog: error: 'x:=nope'")


@pytest.mark.parametrize("args", [("tail", "-n", "20"), ("verify",), ("--help",)])
def test_reading_commands_and_help_stay_light(tmp_path, args):
    imported_by(tmp_path, "emit", "task", "-a", "x")  # the first emit into a new log makes a full ingest pass
    modules = imported_by(tmp_path, *args)
    assert not {m.split(".")[0] for m in modules} & HEAVY
    assert not EMIT_NEVER_LOADS & modules, sorted(EMIT_NEVER_LOADS & modules)
    if args[0] != "--help":
        assert not [m for m in modules if m.startswith(("projections", "subscribers"))]


def test_status_imports_the_projections_but_not_the_subscribers(tmp_path):
    imported_by(tmp_path, "emit", "task", "-a", "x")  # the first emit into a new log makes a full ingest pass
    modules = imported_by(tmp_path, "status")
    assert "projections.run_state" in modules
    assert not {m.split(".")[0] for m in modules} & (HEAVY - {"watchdog"})
    assert not [m for m in modules if m.startswith("subscribers.")]
    assert "eventlog.legacy.ingest" not in modules  # with nothing new to ingest, the change check is enough


def test_a_command_missing_from_the_table_still_runs(tmp_path):
    from commands.cli import COMMAND_HOMES, command_name

    assert "demo" not in COMMAND_HOMES  # every module adds to the demo, so all register
    assert command_name(["--loki-dir", "x", "emit", "task"]) == "emit"
    assert command_name(["--loki-dir=x", "--help"]) is None
    modules = imported_by(tmp_path, "demo", "--help")
    assert "commands.sync_cli" in modules  # the full listing


def test_every_command_in_the_table_lives_where_the_table_says(tmp_path):
    from commands.cli import COMMAND_HOMES, app  # noqa: F401 - registers everything
    import typer.main

    group = typer.main.get_command(app)
    listed = set(group.list_commands(None))
    assert set(COMMAND_HOMES) <= listed
    for name, home in COMMAND_HOMES.items():
        if name == "emit":
            continue  # the entry point hands emit to its own parser, before any registration
        cli_modules = {m for m in imported_by(tmp_path, name, "--help") if m.endswith("_cli")}
        assert cli_modules - {"commands.crash_cli"} <= {home} | SHARED_CLI_MODULES, name
        assert home in cli_modules, name
