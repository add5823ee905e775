"""Kill -9 loop: writers of every kind append together and are killed at random moments.

Each trial picks one running process (a Python library writer, a Python writer that re-sends
its ids after a restart, a batch writer, a `lokilog emit` CLI call, a bash or TypeScript
emitter, a reader, or a projector catching every projection up), waits a random few
milliseconds and sends SIGKILL, then starts a fresh one in its place. At the end every
acknowledged event must be in the log exactly once, seqs dense, the log verified, readers
must never have seen a torn line, and the projector's views, once caught up, must equal a
clean rebuild from the log byte for byte (the audit chain verifying).
"""
from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from scripts.torture.common import HANG_SECONDS, Result, acked_ids, child_env, python_writer, score, scratch

HERE = Path(__file__).resolve().parent
#: Kinds that acknowledge nothing: judged by what they saw or wrote, not by acks.
READ_ONLY = ("reader", "projector", "watch")


@dataclass
class Slot:
    """One kind of process in the loop and its current incarnation."""

    kind: str
    tag: str
    proc: subprocess.Popen | None = None
    out: Path | None = None
    restarts: int = 0
    next_n: int = 0
    acked: list[str] = field(default_factory=list)


def _argv(slot: Slot, root: Path) -> list[str]:
    if slot.kind == "python":
        return python_writer(root, slot.tag, 0)
    if slot.kind == "python-ids":
        return python_writer(root, slot.tag, 0, "--ids", "--start", str(slot.next_n))
    if slot.kind == "python-batch":
        return python_writer(root, slot.tag, 0, "--batch", "7")
    if slot.kind == "cli":
        # One `lokilog emit` per incarnation: the CLI prints the id only once it is stored.
        return [sys.executable, str(HERE / "cli_emit.py"), str(root), slot.tag]
    if slot.kind == "reader":
        return [sys.executable, str(HERE / "reader.py"), str(root)]
    if slot.kind == "projector":
        return [sys.executable, str(HERE / "projector.py"), str(root)]
    if slot.kind == "watch":
        # The daemon: woken by notifications and a fast poll, it ingests and catches up.
        return [sys.executable, "-m", "commands", "--loki-dir", str(root), "watch", "--poll-interval", "0.2"]
    return EXTRA_KINDS[slot.kind](root, slot)


def _extra_kinds() -> dict:
    """Writers in other languages, when this machine can run them: name -> argv builder."""
    kinds = {}
    if shutil.which("flock") and (HERE.parent / "lokilog-emit").exists():
        kinds["bash"] = lambda root, slot: ["bash", str(HERE / "bash_writer.sh"), str(root), slot.tag, "0"]
    if shutil.which("node") and (HERE.parent / "ts" / "dist" / "index.js").exists():
        kinds["ts"] = lambda root, slot: ["node", str(HERE / "ts_writer.js"), str(root), slot.tag, "0"]
    return kinds


EXTRA_KINDS: dict = _extra_kinds()


def _start(slot: Slot, root: Path, work: Path) -> None:
    slot.restarts += 1
    slot.out = work / f"{slot.tag}.{slot.restarts}.out"
    with open(slot.out, "wb") as out:
        slot.proc = subprocess.Popen(_argv(slot, root), stdout=out, stderr=subprocess.DEVNULL,
                                     env=child_env(LOKI_EVENTS_LOCK_TIMEOUT="2"), start_new_session=True)


def _reap(slot: Slot, result: Result, kill: bool) -> None:
    proc = slot.proc
    if proc is None:
        return
    if kill and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    try:
        proc.wait(timeout=HANG_SECONDS)
    except subprocess.TimeoutExpired:
        result.fail(f"{slot.tag}: did not die after SIGKILL")
        return
    text = slot.out.read_bytes().decode(errors="replace")
    _account(slot, text, result)
    slot.proc = None


def _account(slot: Slot, text: str, result: Result) -> None:
    if slot.kind in ("projector", "watch"):
        return  # judged at the end: their views against a clean rebuild
    if slot.kind == "reader":
        for line in text.splitlines()[:-1] if not text.endswith("\n") else text.splitlines():
            parts = line.split()
            if len(parts) == 4 and parts[0] == "PASS":
                result.torn_read += int(parts[2])
                if int(parts[3]):
                    result.fail(f"a reader saw {parts[3]} seq gaps")
        return
    ids = acked_ids(text)
    slot.acked.extend(ids)
    for line in text.splitlines():
        parts = line.split()
        if parts[:1] == ["ACK"] and len(parts) == 4:
            result.stall(float(parts[3]))
        elif parts[:1] == ["ERR"]:
            result.fail(f"{slot.tag}: {line}")
    if slot.kind == "python-ids" and ids:
        # Restart from the last acknowledged id: it and the one killed in flight are re-sent.
        slot.next_n = int(ids[-1].rsplit("-", 1)[1])


def _slots(extra_kinds) -> list[Slot]:
    kinds = ["python", "python-ids", "python-batch", "cli", "reader", "projector", "watch", *extra_kinds]
    return [Slot(kind, f"{kind}{i}") for i, kind in enumerate(kinds)]


def run(trials: int = 40, seed: int = 0, kinds: tuple[str, ...] | None = None) -> Result:
    """Run ``trials`` kills against concurrent writers; return the table row."""
    rng = random.Random(seed)
    extra = tuple(EXTRA_KINDS) if kinds is None else kinds
    result = Result(f"kill -9 loop (py,cli{''.join(',' + k for k in extra)},proj,watch)")
    with scratch() as work:
        root = work / ".loki"
        slots = _slots(extra)
        for slot in slots:
            _start(slot, root, work)
        try:
            for _ in range(trials):
                victim = rng.choice(slots)
                time.sleep(rng.uniform(0.0, 0.15))
                _reap(victim, result, kill=True)
                _start(victim, root, work)
                result.trials += 1
        finally:
            for slot in slots:
                _reap(slot, result, kill=True)
        acked = [i for slot in slots for i in slot.acked]
        silent = sorted({s.kind for s in slots if s.kind not in READ_ONLY} - {s.kind for s in slots if s.acked})
        if silent and trials >= 200:
            result.fail(f"no acknowledged event from {', '.join(silent)}: the loop did not exercise them")
        audit = score(result, root, acked)
        _check_recovered_writer(root, result, audit)
        _check_projections(root, work / "rebuilt" / ".loki", result)
    return result


def _check_projections(root: Path, fresh: Path, result: Result) -> None:
    """Views left by a projector killed again and again, once caught up, equal a clean rebuild."""
    from projections.audit.trail import verify_trail
    from scripts.torture.projector import catch_up_all

    shutil.copytree(root / "events" / "log", fresh / "events" / "log")
    catch_up_all(root)
    catch_up_all(fresh)
    ours, clean = _view_files(root), _view_files(fresh)
    if not clean:
        result.fail("a clean rebuild wrote no views: nothing was compared")
    differ = sorted(k for k in ours.keys() | clean.keys() if ours.get(k) != clean.get(k))
    if differ:
        result.fail(f"views differ from a clean rebuild: {differ[:4]}")
    chain = verify_trail(root)
    if not chain.valid:
        result.fail(f"the audit chain does not verify after the kills: {chain.error}")


def _view_files(root: Path) -> dict[str, bytes]:
    """Every file projections wrote under ``root`` (everything outside events/)."""
    # A temp file left by a killed atomic write is harmless (the next write replaces it).
    return {str(f.relative_to(root)): f.read_bytes() for f in root.rglob("*")
            if f.is_file() and f.relative_to(root).parts[0] != "events" and not f.name.endswith((".tmp", ".lock"))}


def _check_recovered_writer(root: Path, result: Result, audit) -> None:
    """After all the kills a fresh writer must append at once, right after the head."""
    started = time.monotonic()
    done = subprocess.run(python_writer(root, "after", 3), capture_output=True, text=True,
                          env=child_env(), timeout=HANG_SECONDS * 3)
    result.stall(time.monotonic() - started if done.returncode else 0.0)
    seqs = [line.split()[2] for line in done.stdout.splitlines() if line.startswith("ACK")]
    head = sum(audit.ids.values())
    if seqs != [str(head + i) for i in (1, 2, 3)]:
        result.fail(f"a writer after the loop got seqs {seqs}, expected {head + 1}..{head + 3}: {done.stderr[-300:]}")


if __name__ == "__main__":
    from scripts.torture.run import main_for
    sys.exit(main_for("kill9"))
