"""The chain writer and the node store take the entries a fold in the same process computed,
and write exactly what reading the events back from the log writes."""
from __future__ import annotations

import shutil
import sys
from itertools import islice
from pathlib import Path

from conftest import run_lokilog

from eventlog import Event, FileEventLog
from projections.audit import AuditProjection, AuditSettings
from projections.audit.entry import GENESIS, chain_after, entry_line
from projections.audit.merkle import MerkleProjection
from projections.engine import Runner, RunnerGroup

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts" / "bench"))
from realistic_run import drafts  # noqa: E402


def _event(seq: int) -> Event:
    return Event(seq=seq, id=f"known-{seq}", type="task", source="runner", timestamp="2026-01-01T00:00:00.000Z",
                 version="1.0", payload={"action": "created", "task_id": f"t-{seq}"})


def test_a_walk_returns_the_chain_to_the_head_or_nothing():
    entries, head = [], GENESIS
    for seq in (1, 2, 3):
        line, head = entry_line(_event(seq), head)
        entries.append((seq, line, head))
    assert chain_after(GENESIS, head, 3) == entries
    assert chain_after(entries[0][2], head, 3) == entries[1:]
    assert chain_after(head, head, 3) == []
    assert chain_after(GENESIS, head, 2) is None  # the head is past the seq asked for
    assert chain_after(GENESIS, "sha256:" + "0" * 64, 3) is None  # never computed here


def _chain_files(loki: Path) -> dict[str, bytes]:
    out = {}
    for sub in ("audit", "projections/audit-merkle"):
        for path in sorted((loki / sub).rglob("*")):
            if path.is_file() and not path.name.endswith("lock") and path.suffix not in (".msgpack",) \
                    and path.name != "snapshot.json":
                out[str(path.relative_to(loki))] = path.read_bytes()
    return out


def test_catch_ups_kept_in_memory_write_the_chain_a_rebuild_from_the_log_writes(tmp_path: Path):
    loki = tmp_path / "a" / ".loki"
    events = list(islice(drafts(3_000, 30), 3_000))
    settings = AuditSettings()
    with FileEventLog(loki) as log:
        log.append_many(events[:1_000])
        runners = [Runner(loki, p, log=log) for p in (AuditProjection(settings), MerkleProjection(settings))]
        group = RunnerGroup(runners, log)
        for start in (1_000, 1_500, 2_999):
            group.advance()
            for runner in runners:
                runner.save(views=True, snapshot=False)
            log.append_many(events[start:start + 500] if start < 2_999 else events[start:])
        group.advance()
        for runner in runners:
            runner.save(views=True, snapshot=False)
            runner.close()
    in_memory = _chain_files(loki)
    other = tmp_path / "b" / ".loki"
    shutil.copytree(loki / "events", other / "events")
    out = run_lokilog("rebuild", "audit", "audit-merkle", "--json", loki=other)  # another process: from the log
    assert out.returncode == 0, out.stderr
    assert _chain_files(other) == in_memory
    assert run_lokilog("audit", "verify", loki=loki).returncode == 0
