"""Bit flips at rest: one flipped bit in a sealed segment, the audit chain, its Merkle tree or a snapshot is caught.

A log with several sealed segments, its audit chain and every projection's snapshot and views
are built once; each trial copies them and flips one random bit. In a sealed segment or an
audit chain file or the Merkle node store the verifiers (`lokilog verify`'s check of the log,
`lokilog audit verify`'s check of the chain against the log and of the tree) must report it: a flip every verifier calls valid is a
miss, and a verifier that crashes instead of reporting is a failure. In a snapshot, the next
catch-up must not resume from it: the views it writes must equal the undamaged ones.
"""
from __future__ import annotations

import random
import shutil
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from scripts.torture.common import Result, scratch
from eventlog import FileEventLog, LogSettings
from eventlog.verify import verify_log
from projections.audit.merkle.check import verify_tree
from projections.audit.merkle.store import merkle_dir
from projections.audit.trail import verify_trail
from projections.audit.writer import sync_chain
from scripts.torture.kill9 import _view_files
from scripts.torture.projector import catch_up_all

SEGMENT_BYTES = 4096


def build(root: Path, events: int = 120) -> None:
    """A log of several sealed segments, and its audit chain."""
    with FileEventLog(root, settings=LogSettings(segment_max_bytes=SEGMENT_BYTES)) as log:
        for i in range(events):
            log.append("task", "runner", {"action": "claim", "task_id": f"t{i}", "note": "ok " * (i % 5)})
    sync_chain(root)
    catch_up_all(root)  # snapshots and views of every projection


def targets(root: Path) -> dict[str, list[Path]]:
    """Files that must never change once written: sealed segments, audit chain files, the Merkle node store."""
    segments = sorted((root / "events" / "log").glob("*.jsonl"))[:-1]
    audit = sorted(p for p in (root / "lokilog" / "audit").glob("*") if p.is_file() and p.suffix in (".jsonl", ".json")
                   and "lock" not in p.name)
    nodes = sorted(p for p in merkle_dir(root).glob("*") if p.is_file())
    snapshots = sorted((root / "projections").rglob("snapshot.json"))
    return {"sealed segment": segments, "audit chain": audit, "merkle store": nodes, "snapshot": snapshots}


def flip(path: Path, rng: random.Random) -> str:
    """Flip one random bit of ``path``; return where."""
    data = bytearray(path.read_bytes())
    offset = rng.randrange(len(data))
    bit = rng.randrange(8)
    data[offset] ^= 1 << bit
    path.chmod(0o644)
    path.write_bytes(bytes(data))
    path.chmod(0o444) if "events/log" in str(path) else None
    return f"{path.name} byte {offset} bit {bit}"


def views(root: Path) -> dict[str, bytes]:
    """The projections' views (not their snapshots): what users read."""
    return {k: v for k, v in _view_files(root).items() if not k.startswith("projections/")}


def healed(root: Path, clean: dict[str, bytes]) -> tuple[bool, str | None]:
    """A damaged snapshot must not be resumed from: after catch-up the views are the clean ones."""
    try:
        catch_up_all(root)
    except Exception as exc:  # the engine must rebuild or report, not crash
        return True, f"{type(exc).__name__}: {exc}"
    return views(root) == clean, None


def detected(root: Path) -> tuple[bool, str | None]:
    """(whether some verifier reported the damage, a crash message if one crashed)."""
    try:
        log_ok = verify_log(FileEventLog(root).paths).ok
        chain_ok = verify_trail(root).valid and verify_tree(root).valid
    except Exception as exc:  # a verifier must report, not crash
        return True, f"{type(exc).__name__}: {exc}"
    return not (log_ok and chain_ok), None


def run(trials: int = 40, seed: int = 0) -> Result:
    """Flip ``trials`` bits (alternating targets); every flip must be reported."""
    rng = random.Random(seed)
    result = Result("bit flips at rest")
    misses: dict[str, int] = {}
    with scratch() as work:
        pristine = work / "pristine" / ".loki"
        build(pristine)
        if not detected(pristine)[0] is False:
            result.fail("the undamaged log and chain do not verify")
        kinds = targets(pristine)
        clean = views(pristine)
        for number in range(trials):
            kind = list(kinds)[number % len(kinds)]
            copy = work / "copy" / ".loki"
            shutil.rmtree(copy.parent, ignore_errors=True)
            shutil.copytree(pristine, copy)
            victim = copy / rng.choice(kinds[kind]).relative_to(pristine)
            where = flip(victim, rng)
            caught, crash = healed(copy, clean) if kind == "snapshot" else detected(copy)
            result.trials += 1
            if crash:
                result.fail(f"{kind}, {where}: a verifier crashed: {crash}")
            elif not caught:
                misses[kind] = misses.get(kind, 0) + 1
                result.fail(f"{kind}, {where}: not detected")
    for kind, count in misses.items():
        result.failures.insert(0, f"{count} undetected flips in {kind}s")
    return result


if __name__ == "__main__":
    from scripts.torture.run import main_for
    sys.exit(main_for("bitflips"))
