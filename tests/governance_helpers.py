"""Building `.loki/` directories for the governance tests: events, rule files and one evaluation."""
from __future__ import annotations

import json
from pathlib import Path

from commands.governance.config import load
from commands.governance.evaluate import evaluate_gate
from commands.governance.gather import gather
from commands.governance.model import MODES
from eventlog import FileEventLog

#: Every gate green in every mode unless a test says otherwise: any source may run, no votes
#: needed, no coverage required.
GREEN = """\
version: 1
gates:
  security:
    sources: ["*"]
  consensus:
    required: 0
  quality:
    require_coverage: false
"""


def write(loki: Path, name: str, text: str) -> None:
    loki.mkdir(parents=True, exist_ok=True)
    (loki / name).write_text(text, encoding="utf-8")


def emit(loki: Path, *events: tuple[str, dict]) -> None:
    with FileEventLog(loki) as log:
        for kind, payload in events:
            log.append(kind, "runner", payload)


def verdicts(loki: Path, gate: str, *, token: str | None = None, resources=(), flaky=frozenset()) -> dict[str, str]:
    """The gate's verdict in each mode, gathered from the directory as `gates run` would."""
    config = load(loki)
    out = {}
    with FileEventLog(loki) as log:
        for mode in MODES:
            inputs = gather(loki, log, config, mode, run_id="gr-test", plan="plan-1", token=token, resources=resources,
                            env={})
            out[mode] = evaluate_gate(config, inputs, mode, gate, flaky=flaky).verdict.value
    return out


def as_modes(dev: str, staging: str, prod: str) -> dict[str, str]:
    return {"dev": dev, "staging": staging, "prod": prod}


def applied(loki: Path, body: dict) -> None:
    path = loki / "state" / "outcomes" / "applied.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body), encoding="utf-8")
