"""Per-event cost of the three emitters, with baselines measured in the same run.

    python3 scripts/bench/bench_emitters.py [--events 200] [--repeats 5]

Prints JSON: medians over the repeats, in microseconds per event, and ratios to the baselines:
- bash: `lokilog-emit` as a command (one process per event), as a sourced function, and in
  batch mode; baseline: starting one trivial process (`/bin/true`) from the same bash loop,
  which bounds what any command-line emitter can cost.
- TypeScript: `emit()` and `emit(..., {durable: true})` inside one node process; baseline:
  writing and renaming the same bytes to the same kind of file names with plain fs calls
  (interleaved with emit() in blocks);
  also the client's own CPU cost (validating and encoding an event).
- Python: `FileEventLog.append()` with durability never and always; baseline: os.write of the
  same line to a file.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

BASH_EMIT = REPO / "scripts" / "lokilog-emit"
TS_CLIENT = REPO / "scripts" / "ts" / "dist" / "index.js"

_NODE = r"""
const fs = require('fs'); const path = require('path');
const c = require(process.argv[1]); const n = Number(process.argv[2]); const root = process.argv[3];
const payload = {action: 'start', task_id: 'task-001', n: 1};
const total = {baseline: 0, emit: 0, durable: 0, encode: 0};
function time(key, count, fn) { const t = process.hrtime.bigint(); for (let i = 0; i < count; i++) fn(i); total[key] += Number(process.hrtime.bigint() - t) / 1000; }
const base = path.join(root, 'base', 'events', 'pending'); fs.mkdirSync(base, {recursive: true});
const line = c.encodeEnvelope({type: 'task', source: 'vscode', payload, id: c.newEventId(), timestamp: c.nowTimestamp()}) + '\n';
// Interleaved in small blocks: the file system's cost drifts with other users' load.
for (let block = 0; block < n; block += 20) {
  time('baseline', 20, (i) => { const id = c.newEventId(); const tmp = path.join(base, `.${id}.tmp`);
    fs.writeFileSync(tmp, line); fs.renameSync(tmp, path.join(base, c.pendingFileName(c.nowTimestamp(), id))); });
  time('emit', 20, () => c.emit({type: 'task', source: 'vscode', payload}, {lokiDir: path.join(root, 'emit')}));
  time('durable', 5, () => c.emit({type: 'task', source: 'vscode', payload}, {lokiDir: path.join(root, 'durable'), durable: true}));
  time('encode', 20, () => c.encodeEnvelope({type: 'task', source: 'vscode', payload, id: c.newEventId(), timestamp: c.nowTimestamp()}));
}
const blocks = Math.ceil(n / 20);
process.stdout.write(JSON.stringify({baseline: total.baseline / (blocks * 20), emit: total.emit / (blocks * 20),
  durable: total.durable / (blocks * 5), validate_and_encode: total.encode / (blocks * 20)}));
"""


# One bash process runs every kind in alternating blocks of ten, so each kind sees the same load.
_BASH = r"""
source "$2"
declare -A total=()
run() { local kind=$1 s e; shift; s=$EPOCHREALTIME; for ((j = 0; j < 10; j++)); do "$@" >/dev/null; done; e=$EPOCHREALTIME
        total[$kind]=$(( ${total[$kind]:-0} + ${e/./} - ${s/./} )); }
for ((i = 0; i < $1; i += 10)); do
    run spawn_baseline /bin/true
    LOKI_DIR=$3/cli run cli "$2" task hook start task_id=t1 n:=1
    LOKI_DIR=$3/fn run function lokilog_emit task hook start task_id=t1 n:=1
done
for kind in "${!total[@]}"; do echo "$kind ${total[$kind]}"; done
"""


def bash_costs(count: int, root: Path) -> dict[str, float]:
    count -= count % 10
    done = subprocess.run(["bash", "-c", _BASH, "bench", str(count), str(BASH_EMIT), str(root)],
                          capture_output=True, check=True, text=True)
    out = {kind: int(total) / count for kind, total in (line.split() for line in done.stdout.splitlines())}
    batch = b"".join(b'{"type":"task","source":"hook","payload":{"action":"x","n":%d}}\n' % i for i in range(count))
    started = time.perf_counter()
    subprocess.run(["bash", str(BASH_EMIT), "--batch", f"--loki-dir={root / 'batch'}"], input=batch, check=True, capture_output=True)
    out["batch"] = (time.perf_counter() - started) * 1e6 / count
    return out


def ts_costs(count: int, root: Path) -> dict[str, float]:
    done = subprocess.run(["node", "-e", _NODE, str(TS_CLIENT), str(count), str(root / "ts")], capture_output=True, check=True)
    return json.loads(done.stdout)


def python_costs(count: int, root: Path) -> dict[str, float]:
    from eventlog import Durability, FileEventLog, LogSettings

    out = {}
    line = b'{"seq":1,"id":"0123456789abcdef0123456789abcdef","type":"task","source":"runner","payload":{"n":1}}\n'
    fd = os.open(root / "baseline.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    started = time.perf_counter()
    for _ in range(count):
        os.write(fd, line)
    out["baseline"] = (time.perf_counter() - started) * 1e6 / count
    os.close(fd)
    for level in ("never", "always"):
        with FileEventLog(root / f"py-{level}", settings=LogSettings(durability=Durability(level))) as log:
            log.append("task", "runner", {"warm": True})
            started = time.perf_counter()
            for _ in range(count):
                log.append("task", "runner", {"action": "start", "task_id": "task-001", "n": 1})
            out[f"append_{level}"] = (time.perf_counter() - started) * 1e6 / count
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200, help="events per measurement")
    parser.add_argument("--repeats", type=int, default=5, help="measurements per figure (the median is reported)")
    args = parser.parse_args()
    runs: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory(dir=REPO, prefix=".bench-") as tmp:  # on disk, like a real project
            root = Path(tmp)
            for group, costs in (("bash", bash_costs(args.events, root)), ("ts", ts_costs(args.events, root)),
                                 ("python", python_costs(args.events, root))):
                for name, value in costs.items():
                    runs.setdefault(f"{group}_{name}_us", []).append(value)
    med = {k: round(statistics.median(v), 1) for k, v in runs.items()}
    report = {
        "events_per_run": args.events, "repeats": args.repeats, "load_average": os.getloadavg(),
        "median_us_per_event": med,
        "ratios": {
            "bash_cli_vs_process_spawn": round(med["bash_cli_us"] / med["bash_spawn_baseline_us"], 2),
            "bash_function_vs_process_spawn": round(med["bash_function_us"] / med["bash_spawn_baseline_us"], 2),
            "bash_batch_vs_process_spawn": round(med["bash_batch_us"] / med["bash_spawn_baseline_us"], 3),
            "ts_emit_vs_fs_write_rename": round(med["ts_emit_us"] / med["ts_baseline_us"], 2),
            "ts_emit_overhead_over_fs_us": round(med["ts_emit_us"] - med["ts_baseline_us"], 1),
            "python_append_never_vs_os_write": round(med["python_append_never_us"] / med["python_baseline_us"], 2),
            "bash_cli_vs_python_append_always": round(med["bash_cli_us"] / med["python_append_always_us"], 2),
            "ts_emit_vs_python_append_never": round(med["ts_emit_us"] / med["python_append_never_us"], 2),
        },
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
