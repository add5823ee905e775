"""Benchmark: policy evaluation latency for the reference policy set (target: p99 under 50 us).

Times every call of the pure evaluation (``commands.policy.evaluate``) one by one with
``perf_counter_ns``, for contexts at each enforcement point of the reference policy file
(`tests/fixtures/policies/reference.yaml`, the example of the reference architecture), and
reports p50 and p99 per workload as medians over --repeat runs. The baseline, measured in the
same run, is the same call against an empty policy set (the engine's own overhead plus the
timer's); ratios are p99 / baseline p99. The I/O edge (``prepare_context``, which resolves
symlinks) is reported apart, since it is not part of evaluation.

    python3 scripts/bench/bench_policy.py [--calls 20000] [--repeat 5]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import median_latency  # noqa: E402

from commands.policy import PolicySet, evaluate, load_policy_file  # noqa: E402
from commands.policy.gate import prepare_context  # noqa: E402

TARGET_P99_US = 50.0
REFERENCE = REPO / "tests" / "fixtures" / "policies" / "reference.yaml"

PROSE = ("The runner finished task 42 after three retries; the build passed and the report was written to the "
         "usual place. Next the agent will refactor the parser module and update the docs.")
CODE = ("def load(path):\n    with open(path) as f:\n        data = json.load(f)\n    cfg = {'retries': 3, "
        "'timeout': 30, 'url': 'https://example.org/api'}\n    return data, cfg  # version 1.2.3 on 2024-01-15\n") * 5

WORKLOADS = {
    "pre_execution_allow": ("pre_execution", {"file_path": "/repo/src/app/main.py", "project_dir": "/repo", "active_agents": 3}),
    "pre_execution_sibling_deny": ("pre_execution", {"file_path": "/repo-evil/x.py", "project_dir": "/repo", "active_agents": 3}),
    "pre_execution_approval": ("pre_execution", {"file_path": "src/x.py", "project_dir": "/repo", "active_agents": 9}),
    "pre_execution_resolved": ("pre_execution", {"file_path": "src/x.py", "project_dir": "/repo", "active_agents": 2,
                                                 "resolved": {"file_path": "/repo/src/x.py", "project_dir": "/repo"}}),
    "resource_alert": ("resource", {"provider": "claude", "tokens_consumed": 850_000}),
    "resource_provider_deny": ("resource", {"provider": "gemini", "tokens_consumed": 10}),
    "data_prose_200b": ("data", {"content": PROSE}),
    "data_code_1kb": ("data", {"content": CODE}),
    "data_secret_deny": ("data", {"content": PROSE + " export AWS_KEY=AKIAIOSFODNN7EXAMPLE"}),
    "pre_deployment_no_rules": ("pre_deployment", {"passed_gates": ["unit", "lint"]}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=20_000, help="timed calls per workload and run")
    parser.add_argument("--repeat", type=int, default=5, help="runs per workload (medians are reported)")
    options = parser.parse_args()

    policy = load_policy_file(REFERENCE)
    empty = PolicySet(points={})
    baseline = median_latency(options.repeat, evaluate, (empty, "pre_execution", WORKLOADS["pre_execution_allow"][1]),
                            options.calls)
    workloads = {}
    for name, (point, context) in WORKLOADS.items():
        figures = median_latency(options.repeat, evaluate, (policy, point, context), options.calls)
        figures["decision"] = evaluate(policy, point, context).decision.value
        figures["p99_ratio_to_baseline"] = round(figures["p99_us"] / baseline["p99_us"], 2)
        workloads[name] = figures
    edge = median_latency(options.repeat, prepare_context,
                        ({"file_path": "src/x.py", "project_dir": str(REPO), "active_agents": 2},), options.calls // 4)
    worst = max(w["p99_us"] for w in workloads.values())
    print(json.dumps({
        "benchmark": "policy_evaluation",
        "policy": "reference (enterprise architecture example)",
        "calls_per_run": options.calls, "runs": options.repeat,
        "target_p99_us": TARGET_P99_US,
        "worst_p99_us": worst,
        "meets_target": worst < TARGET_P99_US,
        "baseline_empty_policy": baseline,
        "workloads": workloads,
        "io_edge_prepare_context": edge,
    }, indent=2))


if __name__ == "__main__":
    main()
