"""Every command the CLI registers, against the environments a newcomer meets on a bad day.

The commands are enumerated from the click tree typer builds, so a new command is covered
by itself; each needs one row in ROWS (its minimal valid arguments and what it does), and a
command without a row fails `test_every_registered_command_has_a_row` by name.

For each environment the checks are the same: the documented exit code, exactly one
`lokilog: error: ...` line on stderr when it fails (none when it succeeds; a verdict such as
`doctor`'s "problems found" is a report on stdout), no traceback, and nothing created outside the
`.loki/` directory named on the command line. Environments:

- ``file``: `.loki` is a regular file (exit 2 for every command that uses it);
- ``missing-parent``: `--loki-dir` under a directory that does not exist (exit 2, nothing created);
- ``empty``: an empty `.loki/` (reads answer "nothing yet", writes start a log);
- ``newer``: a `.loki/` written by a newer lokilog: events of envelope version 2.0 with fields
  this version does not know, an index of a newer schema, a file it does not know in the log
  directory (all kept as written; every command works);
- ``read-only``: a populated `.loki/` on a read-only mount (reads work, writes exit 1);
- ``closed-stdout``: stdout closed before the command starts (a real process; exit as usual,
  no message).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli_tree import runnable_commands
from commands.cli import app
from conftest import subprocess_env
from readonly import run_read_only

@dataclass(frozen=True)
class Row:
    """One command's minimal valid arguments and its documented outcomes."""

    args: tuple[str, ...] = ()
    writes: bool = False          # needs to write the .loki/ (exit 1 on a read-only one)
    uses_loki: bool = True        # reads or writes the .loki/ at all
    ok: int = 0                   # exit code in a populated .loki/
    empty: int | None = None      # exit code in an empty .loki/ (default: ok)
    home: bool = False            # writes ~/.loki/config, by design
    owns: tuple[str, ...] = ()    # other paths it creates, by design (relative to {world})
    env: tuple[tuple[str, str], ...] = ()  # environment it needs
    read_only: int | None = None  # exit code on a read-only .loki/ (default: 1 if it writes, else ok)
    verdict: bool = False         # a non-zero exit is a report on stdout (problems found), not an error


#: Placeholders: {crash_id} and {approval_id} exist in the populated .loki/, {world} is the test's root.
ROWS: dict[str, Row] = {
    "emit": Row(("task", "-a", "start", "task_id=t9"), writes=True),
    "tail": Row(),
    "replay": Row(),
    "verify": Row(),
    "stats": Row(),
    "ingest": Row(writes=True),
    "doctor": Row(read_only=1, verdict=True),  # a read-only .loki/ is a problem it reports
    "demo": Row(("{world}/demo",), uses_loki=False, owns=("demo",)),
    "rebuild": Row(writes=True),
    "state": Row(("run-state",)),
    "status": Row(),
    "watch": Row(("--once",), writes=True),
    "rollback": Row(("latest",), writes=True, empty=1),
    "approve": Row(("{approval_id}",), writes=True, empty=2),
    "deny": Row(("{approval_id}", "--reason", "no"), writes=True, empty=2),
    "approvals": Row(),  # writes only when an approval is past its timeout
    "checkpoint create": Row(writes=True),
    "checkpoint list": Row(writes=True),
    "checkpoint show": Row(("latest",), writes=True, empty=1),
    "checkpoint prune": Row(("--keep", "5"), writes=True),
    "checkpoint repair": Row(writes=True),
    "audit sync": Row(writes=True),
    "audit verify": Row(),
    "audit head": Row(),
    "audit query": Row(),
    "audit report": Row(("soc2",)),
    "audit residency": Row(("--no-record",)),
    "audit forward": Row(uses_loki=False),  # off (and reading nothing) unless LOKI_AUDIT_SYSLOG_HOST is set
    "audit sth": Row(("--no-sign",), ok=1),  # no head signed yet, and --no-sign signs none
    "audit prove": Row(("1",), writes=True, empty=2),
    "audit consistency": Row(("1",), writes=True, empty=2),
    "audit anchor": Row(("--to", "{world}/witness.jsonl"), writes=True, owns=("witness.jsonl",), empty=1),
    "audit check-proof": Row(("{world}/no-such-proof.json",), uses_loki=False, ok=2),
    "cost": Row(writes=True),
    "cost check": Row(),  # writes only when an alert is due
    "metrics": Row(writes=True),
    "metrics serve": Row(("--port", "0", "--duration", "0")),
    "policy check": Row(("pre_execution", "--context", '{"file_path":"a.py","project_dir":"{world}","active_agents":1}'),
                        writes=True),
    "policy validate": Row(empty=2),
    "sync status": Row(),
    "sync run": Row(),
    "sync retry": Row(writes=True),
    "sync link": Row(("task-001", "jira", "PROJ-12"), writes=True),
    "sync import-epic": Row(("PROJ-1",), ok=2),
    "webhook serve": Row(("--port", "0", "--duration", "0"), env=(("GITHUB_WEBHOOK_SECRET", "s3cret"),)),
    "crash": Row(writes=True),
    "crash show": Row(("{crash_id}",), writes=True, empty=1),
    "crash submit": Row(("{crash_id}",), writes=True, empty=1),
    "telemetry off": Row(uses_loki=False, home=True),
    "telemetry on": Row(uses_loki=False, home=True),
    "telemetry status": Row(),
    "serve": Row(("--port", "0", "--duration", "0")),
    "token create": Row(("--scope", "read"), writes=True),
    "token list": Row(),
    "token rotate": Row(("nope",), ok=1),
    "token revoke": Row(("nope",), ok=1),
    "otel export": Row(("--once",), uses_loki=False, ok=2),  # no endpoint set: says which variable to set
    "otel status": Row(),
    "bridge": Row(("nats://127.0.0.1:1", "--once"), ok=1),  # no server there: one clear line, exit 1
    "learn status": Row(),
    "learn suggest": Row(),  # writes only when a rule makes a suggestion
    "learn apply": Row(),  # writes only when a suggestion was granted
    "gates run": Row(writes=True),  # dev mode, no governance.yaml: the defaults pass the populated run
    "gates status": Row(),
}


COMMANDS = runnable_commands(app)


def test_every_registered_command_has_a_row():
    missing = [c for c in COMMANDS if c not in ROWS]
    assert not missing, (f"commands without a row in ROWS of {Path(__file__).name}: {', '.join(missing)}; "
                         "add one with the command's minimal valid arguments and outcomes")
    gone = [c for c in ROWS if c not in COMMANDS]
    assert not gone, f"ROWS names commands the CLI does not register: {', '.join(gone)}"


# -- the populated .loki/ every environment starts from ------------------------------------------

POLICY = """\
policies:
  pre_execution:
    - name: agent-limit
      rule: "active_agents <= 1"
      action: require_approval
"""


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> dict:
    """A populated .loki/ (events, views, a checkpoint, a crash report, a pending approval) and its ids."""
    base = tmp_path_factory.mktemp("template")
    loki = base / ".loki"
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(app, ["--loki-dir", str(loki), *args], env={"HOME": str(base / "home")},
                               catch_exceptions=False)
        assert result.exit_code in (0, 3), (args, result.output)
        return result.stdout

    run("emit", "session", "-s", "runner", "-a", "start", "session_id=s1")
    run("emit", "task", "-s", "runner", "-a", "start", "task_id=t1")
    run("emit", "metric", "-s", "runner", "-a", "token_usage", "model=claude-sonnet-4", "input_tokens:=100",
        "output_tokens:=20")
    run("emit", "error", "-s", "runner", "-a", "crash", "error_class=ValueError", "message=boom")
    (loki / "policies.yaml").write_text(POLICY)
    approval = json.loads(run("policy", "check", "pre_execution", "-c", '{"active_agents": 3}', "--json"))
    run("status")
    run("audit", "sync")
    run("checkpoint", "create", "-m", "seed")
    crash = json.loads(run("crash", "--json"))
    return {"loki": loki, "approval_id": approval["approval_id"], "crash_id": crash[0]["id"]}


def newer_format(loki: Path) -> None:
    """Make ``loki`` look written by a newer lokilog: new envelope version and fields, new index, new files."""
    import sqlite3

    (segment,) = sorted((loki / "events" / "log").glob("*.jsonl"))
    lines = segment.read_bytes().splitlines()
    head = json.loads(lines[-1])["seq"]
    future = [{"seq": head + i, "id": f"future-{i}", "type": "task", "source": "runner",
               "timestamp": "2026-12-01T10:00:00.000Z", "version": "2.0", "payload": {"action": "start",
               "task_id": f"f{i}"}, "shard": "s1", "trace": {"span": i}} for i in (1, 2)]
    with segment.open("ab") as out:
        out.write(b"".join(json.dumps(e, separators=(",", ":")).encode() + b"\n" for e in future))
    with sqlite3.connect(loki / "events" / "index.sqlite") as db:
        db.execute("UPDATE meta SET value = 99 WHERE key = 'schema'")
    (loki / "events" / "log" / "FORMAT").write_text("2\n")
    (loki / "events" / "manifest.json").write_text('{"format": 2}\n')


# -- one invocation in a world of its own ----------------------------------------------------------

@dataclass
class World:
    root: Path
    loki: Path
    values: dict

    def args(self, command: str) -> list[str]:
        row = ROWS[command]
        filled = list(row.args)
        for name, value in {"world": str(self.root), **self.values}.items():
            filled = [a.replace("{" + name + "}", value) for a in filled]
        return ["--loki-dir", str(self.loki), *command.split(), *filled]

    def env(self, command: str) -> dict:
        return {"HOME": str(self.root / "home"), "LOKI_DIR": None, "LOKI_DEBUG": None,
                "LOKI_TELEMETRY": None, "DO_NOT_TRACK": None, **dict(ROWS[command].env)}


def make_world(base: Path, kind: str, template: dict) -> World:
    root = base / kind
    (root / "home").mkdir(parents=True)
    loki = root / "project" / ".loki"
    loki.parent.mkdir()
    if kind == "file":
        loki.write_text("not a directory\n")
    elif kind == "missing-parent":
        loki = root / "project" / "no-such-dir" / ".loki"
    elif kind == "empty":
        loki.mkdir()
    else:
        shutil.copytree(template["loki"], loki)
        if kind == "newer":
            newer_format(loki)
    values = {"approval_id": template["approval_id"], "crash_id": template["crash_id"]}
    return World(root, loki, values)


def files_outside(world: World, command: str) -> set[str]:
    """Every path under the world that is not inside the named .loki/ (or owned by the command by design)."""
    row = ROWS[command]
    allowed = [world.loki] + [world.root / o for o in row.owns]
    if row.home:
        allowed.append(world.root / "home" / ".loki")
    found = set()
    for path in world.root.rglob("*"):
        if not any(path == a or a in path.parents for a in allowed):
            found.add(str(path.relative_to(world.root)))
    return found


def expected_exit(command: str, kind: str) -> int:
    row = ROWS[command]
    if kind in ("file", "missing-parent"):
        return 2 if row.uses_loki else row.ok
    if kind == "empty":
        return row.ok if row.empty is None else row.empty
    if kind == "read-only":
        return row.read_only if row.read_only is not None else 1 if row.writes else row.ok
    return row.ok


def check(command: str, kind: str, code: int, stderr: str, crash: str | None = None, stdout: str = "") -> list[str]:
    """The problems of one outcome (empty when it is as documented)."""
    problems = []
    want = expected_exit(command, kind)
    lines = [line for line in stderr.splitlines() if line.strip()]
    if crash:
        problems.append(f"uncaught exception:\n{crash}")
    if code != want:
        problems.append(f"exit {code}, documented {want}")
    if "Traceback" in stderr:
        problems.append("a traceback on stderr")
    failed = code != 0 and not ROWS[command].verdict
    if failed and len(lines) != 1:
        problems.append(f"{len(lines)} lines on stderr, not one")
    if failed and lines and not lines[0].startswith("lokilog: error: "):
        problems.append("the error line does not start with 'lokilog: error: '")
    if code == 0 and any(line.startswith("lokilog: error: ") for line in lines):
        problems.append("an error line for a success")
    return [f"lokilog {command} [{kind}]: {p}\n  stderr: {stderr.strip()[:400]}\n  stdout: {stdout.strip()[:300]}"
            for p in problems]


IN_PROCESS = ("file", "missing-parent", "empty", "newer")


@pytest.mark.parametrize("kind", IN_PROCESS)
def test_every_command_in_a_bad_environment(kind, template, tmp_path, monkeypatch):
    problems = []
    for command in COMMANDS:
        if command not in ROWS:
            continue  # reported by name by test_every_registered_command_has_a_row
        world = make_world(tmp_path / command.replace(" ", "-"), kind, template)
        monkeypatch.chdir(world.root / "project")
        before = files_outside(world, command)
        result = CliRunner().invoke(app, world.args(command), env=world.env(command))
        crash = None
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            import traceback

            crash = "".join(traceback.format_exception(result.exception))
        problems += check(command, kind, result.exit_code, result.stderr, crash, result.stdout)
        created = files_outside(world, command) - before
        if created:
            problems.append(f"lokilog {command} [{kind}]: created outside {world.loki}: {sorted(created)}")
    assert not problems, "\n".join(problems)


def test_every_command_on_a_read_only_file_system(template, tmp_path):
    world = make_world(tmp_path, "read-only", template)
    source = world.loki.with_name("source")
    world.loki.rename(source)
    commands = [c for c in COMMANDS if c in ROWS]
    before = set(files_outside(world, "tail"))
    results = run_read_only(source, world.loki, [{"args": world.args(c), "env": world.env(c)} for c in commands],
                            tmp_path)
    problems = []
    for command, result in zip(commands, results):
        problems += check(command, "read-only", result["exit"], result["stderr"], result["crash"], result["stdout"])
    owned = [world.root / "home" / ".loki"] + [world.root / o for c in commands for o in ROWS[c].owns]
    created = {p for p in files_outside(world, "tail") - before
               if not any(world.root / p == o or o in (world.root / p).parents for o in owned)}
    assert not problems, "\n".join(problems)
    assert not created, f"created outside {world.loki}: {sorted(created)}"


CLOSED_STDOUT_DRIVER = r"""
import io, json, os, sys, tempfile, traceback
from commands.cli import main

spec, out = sys.argv[1], sys.argv[2]
results = []
for case in json.load(open(spec)):
    read_end, write_end = os.pipe()
    os.close(read_end)  # closed before the command starts: its first write to stdout fails with EPIPE
    os.dup2(write_end, 1)
    os.close(write_end)
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False))
    err = tempfile.TemporaryFile()
    saved_err = os.dup(2)
    os.dup2(err.fileno(), 2)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), line_buffering=True)
    saved_env = dict(os.environ)
    os.environ.update({k: v for k, v in case["env"].items() if v is not None})
    for k in [k for k, v in case["env"].items() if v is None]:
        os.environ.pop(k, None)
    os.chdir(case["cwd"])
    sys.argv = ["lokilog", *case["args"]]
    code, crash = 0, None
    try:
        main()
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except BaseException as error:
        code, crash = -1, "".join(traceback.format_exception(error))
    try:
        sys.stderr.flush()
    except OSError:
        pass
    os.environ.clear()
    os.environ.update(saved_env)
    os.dup2(saved_err, 2)
    os.close(saved_err)
    err.seek(0)
    results.append({"exit": code, "stderr": err.read().decode("utf-8", "replace"), "crash": crash})
    err.close()
json.dump(results, open(out, "w"))
"""


def test_every_command_with_stdout_closed(template, tmp_path):
    """Real closed pipes on fd 1, each command run through the console entry point, in two processes."""
    commands = [c for c in COMMANDS if c in ROWS]
    worlds = {c: make_world(tmp_path / c.replace(" ", "-"), "closed-stdout", template) for c in commands}
    driver = tmp_path / "closed_stdout_driver.py"
    driver.write_text(CLOSED_STDOUT_DRIVER)
    halves = [commands[0::2], commands[1::2]]
    children = []
    for n, half in enumerate(halves):
        spec, out = tmp_path / f"closed_{n}.json", tmp_path / f"closed_{n}.out.json"
        spec.write_text(json.dumps([{"args": worlds[c].args(c), "env": worlds[c].env(c),
                                     "cwd": str(worlds[c].root / "project")} for c in half]))
        children.append((subprocess.Popen([sys.executable, str(driver), str(spec), str(out)], env=subprocess_env(),
                                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True), out))
    problems = []
    try:
        finished = [child.communicate(timeout=120)[1] for child, _ in children]
    finally:
        for child, _ in children:  # a hung command must not outlive the test
            if child.poll() is None:
                child.kill()
                child.wait(timeout=10)
    for ((child, out), half), stderr in zip(zip(children, halves), finished):
        assert child.returncode == 0, stderr
        for command, done in zip(half, json.loads(out.read_text())):
            problems += check(command, "closed-stdout", done["exit"], done["stderr"], done["crash"])
            if done["exit"] == 0 and done["stderr"].strip() and "error" in done["stderr"].lower():
                problems.append(f"lokilog {command} [closed-stdout]: a message for a normal end: {done['stderr']!r}")
    assert not problems, "\n".join(problems)
