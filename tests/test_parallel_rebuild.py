"""Rebuilding with the audit folds in a child process writes what one process writes."""
from __future__ import annotations

import sys
from pathlib import Path

from conftest import run_lokilog
from eventlog import FileEventLog
from projections.engine import rebuild
from projections.parallel import CHILD_GROUP, rebuild_in_two
from projections.registry import all_projections

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts" / "bench"))
from realistic_run import write_run  # noqa: E402


def _files(loki: Path) -> dict[str, bytes]:
    # Everything the projections wrote: views, snapshots, the audit chain and its node store.
    skip = ("events", "cursors")
    return {str(p.relative_to(loki)): p.read_bytes() for p in sorted(loki.rglob("*"))
            if p.is_file() and p.parts[len(loki.parts)] not in skip and not p.name.endswith((".lock", "lock"))}


def test_two_processes_write_the_same_files_and_states_as_one(loki):
    write_run(loki, 3_000, 40)
    one = rebuild(loki, all_projections())
    written = _files(loki)
    two = rebuild_in_two(loki, all_projections())
    assert [r.name for r in two] == [r.name for r in one]
    assert {r.name for r in two} >= CHILD_GROUP
    for a, b in zip(one, two):
        assert (a.name, a.seq, a.dead_letters, a.stopped, a.state) == (b.name, b.seq, b.dead_letters, b.stopped, b.state)
    assert _files(loki) == written


def test_without_the_audit_projections_the_ledgers_go_to_the_child_with_the_same_files(loki):
    write_run(loki, 3_000, 40)
    chosen = [p for p in all_projections() if p.name not in CHILD_GROUP]
    one = rebuild(loki, chosen)
    written = _files(loki)
    two = rebuild_in_two(loki, chosen)
    assert [(r.name, r.seq, r.state) for r in two] == [(r.name, r.seq, r.state) for r in one]
    assert _files(loki) == written


def test_the_cli_rebuild_keeps_the_audit_chain_verifiable(loki):
    write_run(loki, 2_000, 30)
    out = run_lokilog("rebuild", "--json", loki=loki)
    assert out.returncode == 0, out.stderr
    with FileEventLog(loki) as log:
        head = log.head_seq
    assert '"audit-merkle"' in out.stdout and f'"seq":{head}' in out.stdout
    verify = run_lokilog("audit", "verify", loki=loki)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_without_states_the_child_reports_where_it_got_to_and_writes_the_same_files(loki):
    write_run(loki, 3_000, 40)
    one = rebuild(loki, all_projections())
    written = _files(loki)
    two = rebuild_in_two(loki, all_projections(), states=False)
    assert [(r.name, r.seq, r.dead_letters, r.stopped) for r in two] == \
        [(r.name, r.seq, r.dead_letters, r.stopped) for r in one]
    assert all(r.state is None for r in two if r.name in CHILD_GROUP)
    assert _files(loki) == written
