"""Shared pieces of the torture scenarios: the result row, the oracle, scratch dirs and writers.

Every scenario returns one Result. The oracle is always the same question: of the events a
writer was told were stored (acknowledged), is each in the log exactly once, with dense seqs,
and does the log verify?
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from eventlog import FileEventLog  # noqa: E402
from eventlog.fsutil import is_tmpfs  # noqa: E402
from eventlog.verify import verify_log  # noqa: E402

#: A writer that stalls longer than this with nothing to show for it counts as a hang.
HANG_SECONDS = 10.0


@dataclass
class Result:
    """One row of the torture table."""

    scenario: str
    trials: int = 0
    acknowledged: int = 0
    lost: int = 0
    duplicated: int = 0
    torn_read: int = 0
    max_stall: float = 0.0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.torn_read or self.failures
                    or self.max_stall > HANG_SECONDS)

    def fail(self, message: str) -> None:
        if len(self.failures) < 20:  # keep the report readable; the count is what matters
            self.failures.append(message)

    def stall(self, seconds: float) -> None:
        self.max_stall = max(self.max_stall, seconds)

    def to_dict(self) -> dict:
        return {
            "scenario": self.scenario, "trials": self.trials, "acknowledged": self.acknowledged,
            "lost": self.lost, "duplicated": self.duplicated, "torn_read": self.torn_read,
            "max_stall_s": round(self.max_stall, 3), "ok": self.ok, "failures": self.failures,
        }


@dataclass
class Audit:
    """What the log holds, compared with what writers were told."""

    lost: list[str]
    duplicated: list[str]
    problems: list[str]
    ids: Counter


def audit_log(root: Path, acknowledged: Iterable[str], *, verify: bool = True) -> Audit:
    """Read the whole log (ingesting the drop box first) and check it against the acked ids."""
    problems: list[str] = []
    bad_lines = []
    with FileEventLog(root) as log:
        log.recover()  # as the next writer would: cut what killed writers left unfinished
        log.ingest_pending(timeout=HANG_SECONDS)
        events = list(log.read(on_bad_line=bad_lines.append))
        if verify:
            report = verify_log(log.paths)
            problems.extend(f.describe() for f in report.findings)
    seqs = [e.seq for e in events]
    if seqs != list(range(1, len(seqs) + 1)):
        problems.append(f"seqs are not dense 1..{len(seqs)}")
    problems.extend(f"bad line {b.segment.name}:{b.offset}: {b.reason}" for b in bad_lines)
    ids = Counter(e.id for e in events)
    acked = set(acknowledged)
    return Audit(
        lost=sorted(i for i in acked if ids[i] == 0),
        duplicated=sorted(i for i, n in ids.items() if n > 1),
        problems=problems,
        ids=ids,
    )


def score(result: Result, root: Path, acknowledged: Iterable[str], *, verify: bool = True) -> Audit:
    """Audit the log and add what was lost, duplicated or wrong to ``result``."""
    acked = list(acknowledged)
    audit = audit_log(root, acked, verify=verify)
    result.acknowledged += len(set(acked))
    result.lost += len(audit.lost)
    result.duplicated += len(audit.duplicated)
    for message in audit.problems:
        result.fail(f"{root.name}: {message}")
    for event_id in audit.lost[:3]:
        result.fail(f"{root.name}: acknowledged event {event_id} is missing")
    return audit


@contextmanager
def scratch(base: Path | None = None) -> Iterator[Path]:
    """A disk-backed scratch directory (fsync means nothing on tmpfs), removed afterwards."""
    parent = base or Path(os.environ.get("LOKILOG_TORTURE_DIR", tempfile.gettempdir()))
    if sys.platform.startswith("linux") and is_tmpfs(parent.resolve()):
        parent = ROOT / ".torture-scratch"
    parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="torture-", dir=parent))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def child_env(**extra: str) -> dict[str, str]:
    """Environment for child processes that import this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def spawn(argv: list[str], **env: str) -> subprocess.Popen:
    """Start a child whose stdout is a stream of acknowledgement lines."""
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env(**env),
                            start_new_session=True)


def python_writer(root: Path, tag: str, count: int, *extra: str) -> list[str]:
    """argv of the Python writer (scripts/torture/writer.py) appending ``count`` events."""
    return [sys.executable, str(Path(__file__).with_name("writer.py")), str(root), tag, str(count), *extra]


def acked_ids(stdout: str | bytes) -> list[str]:
    """Ids from a writer's complete ``ACK <id> ...`` lines (a line cut by a kill is not an ack)."""
    text = stdout.decode(errors="replace") if isinstance(stdout, bytes) else stdout
    ids = []
    for line in text.split("\n")[:-1] if not text.endswith("\n") else text.split("\n"):
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "ACK":
            ids.append(parts[1])
    return ids
