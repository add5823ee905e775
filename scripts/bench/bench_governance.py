"""Benchmark: a full 9-gate evaluation, p99 (target: under 1 ms), beside the policy engine's own.

A `.loki/` is filled with a realistic run (sessions, tasks with some failures, quality gates with
coverage and lint figures, review votes, token usage, a rollback) plus the reference policy file,
budgets, residency rules and a governance.yaml with tenants and reviewers. The inputs are gathered
once (that I/O edge, a fold of the whole log plus an audit-chain check, is timed apart); then every
call of the pure evaluation of all nine gates (``commands.governance.evaluate.evaluate``) is timed
one by one with ``perf_counter_ns``, per mode, and reported as p50/p99 medians over --repeat runs.
The baseline, measured in the same run, is the policy engine's own evaluation
(``commands.policy.evaluate``) of the same pre_deployment context the policy gate evaluates, and of
the reference pre_execution context; ratios are p99 / baseline p99. Last, whole ``run_gates`` calls
(gather, evaluate, and 11 fsynced appends) are timed for their median.

    python3 scripts/bench/bench_governance.py [--calls 20000] [--repeat 5] [--events 2000]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, emit, median_latency, scratch_dir  # noqa: E402

from commands.governance.config import load  # noqa: E402
from commands.governance.evaluate import evaluate, outcome  # noqa: E402
from commands.governance.gather import gather  # noqa: E402
from commands.governance.model import MODES  # noqa: E402
from commands.governance.pipeline import run_gates  # noqa: E402
from commands.policy import evaluate as policy_evaluate, load_policy_file  # noqa: E402
from eventlog import FileEventLog, NewEvent  # noqa: E402

TARGET_P99_US = 1000.0
REFERENCE = ROOT / "tests" / "fixtures" / "policies" / "reference.yaml"

GOVERNANCE = """\
version: 1
gates:
  security: {sources: {dev: ["*"], staging: [runner], prod: [runner]}}
  consensus: {reviewers: [alice, bob, carol], required: {dev: 0, staging: 1, prod: 2}}
  tenant: {owners: {acme: ["src/*", "s3://acme-*"], globex: ["s3://globex-*"]}}
"""


def _fill(loki: Path, events: int) -> None:
    (loki / "governance.yaml").write_text(GOVERNANCE)
    (loki / "policies.yaml").write_text(REFERENCE.read_text())
    (loki / "residency.json").write_text('{"allowed_providers": ["anthropic", "claude"]}')
    (loki / "config.yaml").write_text("tenant: acme\n")
    drafts = [NewEvent(type="session", source="runner", payload={"action": "start", "session_id": "s1"})]
    for i in range(events):
        kind, payload = _event(i)
        drafts.append(NewEvent(type=kind, source="runner", payload=payload))
    drafts += [NewEvent(type="quality", source="runner", payload={"action": "gate", "gate": g, "result": "pass", **extra})
               for g, extra in (("coverage", {"coverage": 86.0}), ("lint", {"errors": 0}), ("unit-tests", {}))]
    drafts += [NewEvent(type="council", source="runner", payload={"action": "vote", "reviewer": r, "verdict": "approve"})
               for r in ("alice", "bob")]
    with FileEventLog(loki) as log:
        log.append_many(drafts)


def _event(i: int) -> tuple[str, dict]:
    if i % 4 == 0:
        return "metric", {"action": "token_usage", "model": "claude-sonnet-4", "provider": "anthropic",
                          "input_tokens": 1200, "output_tokens": 300, "task_id": f"t{i}"}
    if i % 4 == 1:
        return "task", {"action": "started", "task_id": f"t{i}", "file_path": f"src/m{i % 50}.py"}
    if i % 97 == 0:
        return "checkpoint", {"action": "rolled_back", "checkpoint_id": f"cp{i}", "to_seq": 1}
    return "task", {"action": "failed" if i % 23 == 0 else "completed", "task_id": f"t{i}"}


def _seconds(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return round(statistics.median(times) * 1000, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=20_000, help="timed evaluations per workload and run")
    parser.add_argument("--repeat", type=int, default=5, help="runs per workload (medians are reported)")
    parser.add_argument("--events", type=int, default=2000, help="events in the benchmark's log")
    options = parser.parse_args()

    with scratch_dir("lokilog-bench-governance-") as scratch:
        loki = scratch / ".loki"
        loki.mkdir()
        _fill(loki, options.events)
        config = load(loki)
        with FileEventLog(loki) as log:
            gathered = {m: gather(loki, log, config, m, run_id="gr-bench", plan="plan", source="runner", env={})
                        for m in MODES}
            gather_ms = _seconds(lambda: gather(loki, log, config, "prod", run_id="gr-bench", plan="plan",
                                                source="runner", env={}), options.repeat)
            run_ms = _seconds(lambda: run_gates(log, loki, mode="dev", source="runner"), options.repeat)
        policy = load_policy_file(REFERENCE)
        deploy_point, deploy_context = gathered["prod"].policy_checks[0]
        baseline = median_latency(options.repeat, policy_evaluate, (policy, deploy_point, deploy_context), options.calls)
        reference = median_latency(options.repeat, policy_evaluate, (policy, "pre_execution", {
            "file_path": "/repo/src/app/main.py", "project_dir": "/repo", "active_agents": 3}), options.calls)
        modes = {}
        for mode in MODES:
            figures = median_latency(options.repeat, evaluate, (config, gathered[mode], mode), options.calls)
            figures["verdict"] = outcome(evaluate(config, gathered[mode], mode)).value
            figures["p99_ratio_to_policy_baseline"] = round(figures["p99_us"] / baseline["p99_us"], 2)
            modes[mode] = figures
    worst = max(m["p99_us"] for m in modes.values())
    emit({
        "benchmark": "governance_nine_gate_evaluation",
        "events_in_log": options.events + 6, "calls_per_run": options.calls, "runs": options.repeat,
        "target_p99_us": TARGET_P99_US, "worst_p99_us": worst, "meets_target": worst < TARGET_P99_US,
        "baseline_policy_engine_pre_deployment": baseline,
        "policy_engine_reference_pre_execution": reference,
        "nine_gates_by_mode": modes,
        "io_edge_gather_median_ms": gather_ms,
        "end_to_end_run_gates_median_ms": run_ms,
        "note": "2-core shared machine under load from other jobs; figures are medians of --repeat runs",
    })


if __name__ == "__main__":
    main()
