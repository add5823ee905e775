"""Helpers shared by the projection tests: small projections and view comparison."""
from __future__ import annotations

from pathlib import Path

import msgspec

from eventlog import Event
from eventlog.fsutil import atomic_write


class Counter:
    """A ledger: counts events by type; never rewinds. Raises on payload {"poison": true}."""

    name = "counter"
    version = 1
    state_type = dict[str, int]
    on_error = "dead_letter"

    def initial(self) -> dict[str, int]:
        return {}

    def apply(self, state: dict[str, int], event: Event) -> dict[str, int]:
        if event.payload.get("poison"):
            raise ValueError("poisoned")
        state[event.type] = state.get(event.type, 0) + 1
        return state

    def write_views(self, state: dict[str, int], loki_dir: Path) -> None:
        path = Path(loki_dir) / "counter" / f"{self.name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, msgspec.json.encode(state, order="deterministic"), durable=False)


class StoppingCounter(Counter):
    name = "stopping-counter"
    on_error = "stop"


class RewindingCounter(Counter):
    name = "rewinding-counter"
    rewindable = True


def views(loki: Path, *dirs: str) -> dict[str, bytes]:
    """Return every view file under the given subdirectories of ``loki``, by relative path."""
    out = {}
    for name in dirs:
        base = loki / name
        for path in sorted(base.rglob("*")):
            if path.is_file() and not path.name.endswith(".tmp"):
                out[str(path.relative_to(loki))] = path.read_bytes()
    return out


def task(action: str, task_id: str, **payload) -> dict:
    return {"type": "task", "source": "runner", "payload": {"action": action, "task_id": task_id, **payload}}


def rollback(to_seq: int, checkpoint_id: str = "cp-1") -> dict:
    return {"type": "checkpoint", "source": "cli",
            "payload": {"action": "rolled_back", "checkpoint_id": checkpoint_id, "to_seq": to_seq}}


class ReadsTasksCounter(RewindingCounter):
    """Rewindable, and reads only two task actions: the engine still hands it its rollbacks."""

    name = "reads-tasks-counter"
    reads = ("task.created", "task.started")
