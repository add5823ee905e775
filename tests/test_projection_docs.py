"""The example projection in docs/PROJECTIONS.md runs as written."""
from __future__ import annotations

import json
import re
from pathlib import Path

from eventlog import FileEventLog, LogSettings
from projections.engine import catch_up, rebuild

DOC = Path(__file__).resolve().parent.parent / "docs" / "PROJECTIONS.md"


def _example():
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S).group(1)
    namespace: dict = {"__name__": "gate_counts_example"}
    exec(compile(code, str(DOC), "exec"), namespace)
    return namespace["GateCounts"]


def test_the_documented_projection_folds_only_what_it_reads(loki):
    GateCounts = _example()
    with FileEventLog(loki, settings=LogSettings()) as log:
        log.append_many([
            {"type": "quality", "source": "runner", "payload": {"action": "gate", "gate": "unit", "result": "pass"}},
            {"type": "task", "source": "runner", "payload": {"action": "created", "task_id": "t1"}},
            {"type": "quality", "source": "runner", "payload": {"action": "gate", "gate": "unit", "result": "fail"}},
            {"type": "quality", "source": "runner", "payload": {"action": "gate", "gate": "lint"}},  # poison
        ])
    result = catch_up(loki, GateCounts())
    assert result.seq == 4 and result.dead_letters == 1
    view = (loki / "state" / "gates.json").read_bytes()
    assert json.loads(view) == {"unit": {"pass": 1, "fail": 1}}
    rebuild(loki, [GateCounts()])
    assert (loki / "state" / "gates.json").read_bytes() == view
