"""Python, bash and TypeScript emitters at once into one log; and killed with SIGKILL mid-emit.

Sized for two shared cores: LOKILOG_STRESS_N raises the per-language event count for a big run
(for example LOKILOG_STRESS_N=600).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


from eventlog import FileEventLog, LogSettings
from eventlog.layout import LokiPaths
from eventlog.verify import verify_log
from tests.clients import BASH_EMIT, REPO, emit_env, log_lines, ts_client

PROCS = 4
N = int(os.environ.get("LOKILOG_STRESS_N", "200"))  # events per language

_PYTHON = (
    "import sys\n"
    "from eventlog import FileEventLog\n"
    "log = FileEventLog()\n"
    "for i in range(int(sys.argv[1])):\n"
    "    print(log.append('task', 'python', {'i': i, 'w': sys.argv[2]}).id, flush=True)\n"
)
_BASH = 'for ((i = 0; i < $1; i++)); do "$3" task bash x "i:=$i" "w=$2" || exit; done'
_NODE = (
    "const c = require(process.argv[1]); const n = Number(process.argv[2]);"
    "for (let i = 0; i < n; i++) process.stdout.write(c.emit({type: 'task', source: 'node', payload: {i, w: process.argv[3]}}) + '\\n');"
)


def _spawn(kind: str, count: int, worker: str, loki: Path, **env: str) -> subprocess.Popen:
    if kind == "python":
        argv = [sys.executable, "-c", _PYTHON, str(count), worker]
        env = {**env, "PYTHONPATH": str(REPO)}
    elif kind == "bash":
        argv = ["bash", "-c", _BASH, "emitter", str(count), worker, str(BASH_EMIT)]
    else:
        argv = ["node", "-e", _NODE, str(ts_client()), str(count), worker]
    return subprocess.Popen(argv, env=emit_env(loki, LOKI_EVENTS_DURABILITY="never", **env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)


def _acknowledged(out: bytes) -> list[str]:
    # Only whole lines count: a line cut by the kill was never acknowledged.
    return [line.decode() for line in out.split(b"\n")[:-1] if line]


def _final_events(loki: Path):
    with FileEventLog(loki, settings=LogSettings()) as log:
        report = log.ingest_pending()
        assert not report.bad, report.bad
        return list(log.read())


def _assert_log_whole(loki: Path, count: int) -> list[str]:
    events = _final_events(loki)
    assert [e.seq for e in events] == list(range(1, count + 1))
    ids = [e.id for e in events]
    assert len(set(ids)) == len(ids)
    for line in log_lines(loki):
        assert line.endswith(b"\n")
        json.loads(line)
    assert verify_log(LokiPaths(loki)).ok
    return ids


def test_three_languages_at_once(loki):
    ts_client()
    per = N // PROCS
    workers = []
    for w in range(PROCS):
        # Half of the bash and Python writers get a tiny lock bound, so the drop box is used too.
        bound = {"LOKI_EVENTS_LOCK_TIMEOUT": "0.002"} if w % 2 else {}
        workers += [_spawn("python", per, f"p{w}", loki, **bound), _spawn("bash", per, f"b{w}", loki, **bound),
                    _spawn("node", per, f"n{w}", loki)]
    printed = []
    for proc in workers:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err.decode()
        printed += _acknowledged(out)
    assert len(printed) == 3 * per * PROCS
    ids = _assert_log_whole(loki, 3 * per * PROCS)
    assert sorted(ids) == sorted(printed)
    events = _final_events(loki)
    sources = [e.source for e in events]
    assert {s: sources.count(s) for s in set(sources)} == {"python": per * PROCS, "bash": per * PROCS, "node": per * PROCS}
    # The TypeScript reader sees exactly what the Python reader sees.
    script = ("const c = require(process.argv[1]);"
              "process.stdout.write(JSON.stringify({all: c.read().map((e) => [e.seq, e.id, e.source]),"
              " bash: c.read({fromSeq: 5, sources: ['bash']}).map((e) => e.seq), tail: c.tail(3).map((e) => e.seq)}))")
    done = subprocess.run(["node", "-e", script, str(ts_client())], env=emit_env(loki), capture_output=True, timeout=60)
    seen = json.loads(done.stdout)
    assert seen["all"] == [[e.seq, e.id, e.source] for e in events]
    assert seen["bash"] == [e.seq for e in events if e.source == "bash" and e.seq >= 5]
    assert seen["tail"] == [e.seq for e in events[-3:]]


def test_sigkill_at_random_moments_loses_and_duplicates_nothing(loki, rng):
    ts_client()
    acknowledged: list[str] = []
    for round_ in range(3):
        workers = []
        for w in range(2):
            bound = {"LOKI_EVENTS_LOCK_TIMEOUT": "0.002"} if w else {}
            workers += [_spawn(kind, 100_000, f"{kind}{round_}{w}", loki, **bound) for kind in ("python", "bash", "node")]
        deadline = time.monotonic() + 0.5
        for proc in rng.sample(workers, len(workers)):
            time.sleep(max(0.0, min(rng.uniform(0.05, 0.6), deadline + 0.6 - time.monotonic())))
            os.killpg(proc.pid, signal.SIGKILL)
        for proc in workers:
            out, _ = proc.communicate(timeout=60)
            assert proc.returncode == -signal.SIGKILL
            acknowledged += _acknowledged(out)
    assert len(acknowledged) > 20
    events = _final_events(loki)
    ids = _assert_log_whole(loki, len(events))
    stored = set(ids)
    missing = [i for i in acknowledged if i not in stored]
    assert not missing, f"{len(missing)} acknowledged events lost"
    assert len(set(acknowledged)) == len(acknowledged)
