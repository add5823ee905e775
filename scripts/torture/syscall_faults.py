"""Full disk, file-size limits and I/O errors, injected into real writers with strace and ulimit.

Each case runs a real writer process against a log that already holds events, with a fault
injected into its system calls: ENOSPC on every write to the segment from the k-th on,
EIO on the k-th fsync (once, and from then on), EXDEV on every rename (the drop box's move
to archive/), and `ulimit -f` just above the segment's size. Right after the faulty writer,
before anyone repairs anything, the log must verify (no torn or corrupt line left behind);
the events in it must be exactly the set-up ones plus the acknowledged ones (nothing whose
write or fsync failed is stored, nothing acknowledged is missing); and once the fault is
gone appends resume.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from scripts.torture.common import HANG_SECONDS, Result, acked_ids, child_env, python_writer, scratch
from eventlog import Event, FileEventLog
from eventlog.events import FORMAT_VERSION, new_event_id, now_timestamp
from eventlog.pending import drop
from eventlog.verify import verify_log

HERE = Path(__file__).resolve().parent
SEGMENT = "events/log/00000000000000000001.jsonl"
WRITES = 10


def _strace(root: Path, syscall: str, error: str, when: str, traced: bool = True) -> list[str]:
    path = ["-P", str(root / SEGMENT)] if traced else []
    return ["strace", "-f", "-qq", "-o", "/dev/null", *path, "-e", f"trace={syscall}",
            "-e", f"inject={syscall}:error={error}:when={when}"]


def cases(k: int) -> list[tuple[str, object, bool]]:
    """(name, command prefix builder, whether the drop box holds events first) for fault position k."""
    def fsync(when):
        # strace counts per process and the bash emitter runs as one process per event (and
        # fsyncs with one `sync` process each): for it, "the k-th call" is every event's.
        return lambda root, kind: _strace(root, "fsync", "EIO", "1" if kind == "bash" else when)

    return [
        (f"ENOSPC on write {k}+", lambda root, kind: _strace(root, "write", "ENOSPC", "1+" if kind == "bash" else f"{k}+"), False),
        (f"EIO on fsync {k}", fsync(str(k)), False),
        (f"EIO on fsync {k}+", fsync(f"{k}+"), False),
        ("EXDEV on rename", lambda root, kind: _strace(root, "rename", "EXDEV", "1+", traced=False), True),
        (f"ulimit -f +{k}K", lambda root, kind: ["bash", "-c", f'ulimit -f $(( $(stat -c %s "{root / SEGMENT}") / 1024 + {k} )); exec "$@"', "limit"], False),
    ]


def _setup(root: Path, drops: bool) -> set[str]:
    ids = set()
    with FileEventLog(root) as log:
        for i in range(3):
            ids.add(log.append("task", "setup", {"i": i, "pad": "p" * 300}).id)
        for i in range(3 if drops else 0):
            event = Event(seq=0, id=new_event_id(), type="task", source="dropper", timestamp=now_timestamp(),
                          version=FORMAT_VERSION, payload={"i": i})
            drop(log.paths.pending, event)
            ids.add(event.id)
    return ids


def _writer(kind: str, root: Path) -> list[str]:
    if kind == "bash":
        return ["bash", str(HERE / "bash_writer.sh"), str(root), "f", str(WRITES), "700"]
    return python_writer(root, "f", WRITES, "--payload-bytes", "700", *(["--ids"] if kind == "ids" else []))


def writer_kinds() -> list[str]:
    """Python appends with fresh ids and with given ids, and the bash emitter where it runs."""
    bash = shutil.which("flock") and (HERE.parent / "lokilog-emit").exists()
    return ["plain", "ids", *(["bash"] if bash else [])]


def _case(work: Path, name: str, prefix, drops: bool, result: Result, kind: str) -> None:
    root = Path(tempfile.mkdtemp(prefix=name.split()[0] + "-", dir=work)) / ".loki"
    stored = _setup(root, drops)
    writer = _writer(kind, root)
    started = time.monotonic()
    done = subprocess.run([*prefix(root, kind), *writer], capture_output=True, text=True, env=child_env(BASH_WRITER_MODE="command"),
                          timeout=HANG_SECONDS * 3)
    result.stall(time.monotonic() - started)
    label = f"{name} ({kind})"
    if done.returncode:
        result.fail(f"{label}: the writer crashed: {done.stderr.strip().splitlines()[-1:]}")
    errors = [line for line in done.stdout.splitlines() if line.startswith("ERR")]
    if "EXDEV" not in name and not errors:
        result.fail(f"{label}: no error was reported")
    _check(root, stored, set(acked_ids(done.stdout)), label, result)


def _check(root: Path, stored: set[str], acked: set[str], label: str, result: Result) -> None:
    report = verify_log(FileEventLog(root).paths)  # before any writer repairs anything
    for finding in report.findings:
        result.fail(f"{label}: left behind: {finding.describe()}")
    with FileEventLog(root) as log:
        log.ingest_pending(timeout=HANG_SECONDS)
        ids = [e.id for e in log.read()]
        after = log.append("task", "after-fault").seq
    result.acknowledged += len(acked)
    result.lost += len((stored | acked) - set(ids))
    result.duplicated += len(ids) - len(set(ids))
    unacked = set(ids) - stored - acked
    if unacked:
        result.fail(f"{label}: {len(unacked)} events stored without an acknowledgement")
    if after != len(ids) + 1:
        result.fail(f"{label}: appends did not resume at seq {len(ids) + 1} (got {after})")


def run(trials: int = 1, seed: int = 0) -> Result:
    """Run every fault case at ``trials`` fault positions, for plain and id-carrying appends."""
    result = Result("ENOSPC/EIO/EXDEV/ulimit")
    if shutil.which("strace") is None:
        result.fail("strace is not installed (scripts/test installs it)")
        return result
    with scratch() as work:
        for k in range(1, trials + 1):
            for name, prefix, drops in cases(k):
                for kind in writer_kinds():
                    _case(work, name, prefix, drops, result, kind)
                    result.trials += 1
    return result


if __name__ == "__main__":
    from scripts.torture.run import main_for
    sys.exit(main_for("syscall_faults"))
