"""Budgets: alerts recorded exactly once per budget, threshold and window, whatever happens."""
from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal

import pytest

from eventlog import FileEventLog, InvalidEventError
from projections.base import project
from projections.cost.budgets import alert_id, current, due_events, parse_budgets, spend
from projections.cost import CostProjection
from projections.engine import catch_up, rebuild
from projections.cost.pricing import PriceTable
from subscribers.base import drain
from subscribers.cost_alerts import BudgetAlerts, check_budgets
from subscribers.registry import enabled_subscribers

from conftest import run_lokilog, subprocess_env

POLICIES = """\
policies:
  pre_execution:
    - name: project-boundary
      rule: "file_path must start with project_dir"
      action: deny
  resource:
    - name: token-budget
      max_tokens: 10000
      alerts: [50, 80, 95]
      on_exceed: require_approval
      providers: [claude, codex]
    - name: daily-usd
      max_usd: 0.05
      window: day
      on_exceed: deny
"""


def usage_payload(tokens: int = 1000, provider: str = "anthropic", model: str = "claude-sonnet-4") -> dict:
    return {"action": "token_usage", "model": model, "provider": provider, "input_tokens": tokens,
            "output_tokens": 0, "agent_type": "engineer", "task_id": "t1", "session_id": "s1"}


def emit_usage(loki, count: int, day: str = "2026-02-21", **kw) -> None:
    with FileEventLog(loki) as log:
        for n in range(count):
            log.append("metric", "runner", usage_payload(**kw), timestamp=f"{day}T10:{n % 60:02d}:00.000Z")


def alerts_in_log(loki) -> Counter:
    with FileEventLog(loki) as log:
        return Counter(e.id for e in log.read(types=["cost"]))


@pytest.fixture
def budgeted(loki):
    loki.mkdir(parents=True, exist_ok=True)
    (loki / "policies.yaml").write_text(POLICIES)
    return loki


def test_parse_the_reference_example_and_usd_budgets():
    budgets = parse_budgets(__import__("yaml").safe_load(POLICIES))
    assert [(b.name, b.unit, b.limit, b.window) for b in budgets] == [
        ("token-budget", "tokens", Decimal(10000), "total"), ("daily-usd", "usd", Decimal("0.05"), "day")]
    assert budgets[0].providers == frozenset({"claude", "anthropic", "codex", "openai"})
    assert budgets[0].alerts == (50, 80, 95) and budgets[1].on_exceed == "deny"


@pytest.mark.parametrize("rule, message", [
    ({"name": "b", "max_tokens": -1}, "max_tokens must be a positive"),
    ({"name": "b", "max_tokens": 1.5}, "whole"),
    ({"max_tokens": 10}, "needs a `name`"),
    ({"name": "b", "max_usd": "lots"}, "max_usd"),
    ({"name": "b", "max_tokens": 10, "alerts": [0, 120]}, "percentages"),
    ({"name": "b", "max_tokens": 10, "on_exceed": "explode"}, "on_exceed must be one of"),
    ({"name": "b", "max_tokens": 10, "window": "fortnight"}, "window must be one of"),
])
def test_bad_budgets_are_rejected_naming_the_field(rule, message):
    with pytest.raises(InvalidEventError, match=message):
        parse_budgets({"policies": {"resource": [rule]}})


def test_thresholds_fire_in_order_and_exceeding_records_the_action(budgeted):
    (budgeted / "policies.yaml").write_text(POLICIES.split("    - name: daily-usd")[0])
    emit_usage(budgeted, 5)  # 5 000 tokens: 50 %
    assert [r.status for r in check_budgets(budgeted)] == ["appended"]
    emit_usage(budgeted, 5)  # 10 000: 80 and 95 %, not yet exceeded
    assert len(check_budgets(budgeted)) == 2
    emit_usage(budgeted, 1)
    new = check_budgets(budgeted)
    with FileEventLog(budgeted) as log:
        events = [e for e in log.read(types=["cost"])]
    exceeded = [e for e in events if e.action == "budget_exceeded"]
    assert [e.payload["threshold"] for e in events if e.action == "alert" and e.payload["budget"] == "token-budget"] == [50, 80, 95]
    assert len(new) == 1 and exceeded[0].payload["on_exceed"] == "require_approval"
    assert exceeded[0].payload["spent"] == "11000" and exceeded[0].payload["window"] == "total"


def test_other_providers_do_not_count_against_a_provider_budget(budgeted):
    emit_usage(budgeted, 9, provider="google", model="gemini-2.5-pro")
    state = catch_up(budgeted, CostProjection(), write_views=False).state
    budget = parse_budgets(__import__("yaml").safe_load(POLICIES))[0]
    assert current(spend(state, PriceTable(), budget)).spent == 0


def test_each_day_is_its_own_window(budgeted):
    # 1000 input tokens of claude-sonnet-4 cost $0.003: 17 of them pass $0.05 on each day.
    emit_usage(budgeted, 17, day="2026-02-21")
    emit_usage(budgeted, 17, day="2026-02-22")
    check_budgets(budgeted)
    with FileEventLog(budgeted) as log:
        usd = [e.payload for e in log.read(types=["cost"]) if e.payload["budget"] == "daily-usd"]
    assert Counter(p["window"] for p in usd) == {"day:2026-02-21": 4, "day:2026-02-22": 4}


def test_alerts_are_exactly_once_across_repeats_rebuilds_and_the_subscriber(budgeted):
    emit_usage(budgeted, 12)
    first = check_budgets(budgeted)
    assert first
    for _ in range(3):
        assert check_budgets(budgeted) == []
    rebuild(budgeted, [CostProjection()])
    (budgeted / "cost" / "summary.json").unlink()
    assert check_budgets(budgeted) == []
    # The watch daemon's path: a fresh subscriber from seq 1 finds nothing new either.
    subscribers = enabled_subscribers(budgeted, {})
    assert [s.name for s in subscribers] == ["cost-alerts"]
    drain(budgeted, subscribers[0])
    emit_usage(budgeted, 20, day="2026-02-23")
    drain(budgeted, BudgetAlerts(budgeted))
    counts = alerts_in_log(budgeted)
    assert counts and set(counts.values()) == {1}
    catch_up(budgeted, CostProjection())
    summary = json.loads((budgeted / "cost" / "summary.json").read_text())
    assert {e["id"] for e in summary["budget_events"]} == set(counts)


def test_an_alert_already_folded_is_never_due_again():
    # Beyond the log's idempotency window only the ledger remembers an alert: it must suffice.
    budgets = parse_budgets({"resource": [{"name": "b", "max_tokens": 100, "alerts": [50]}]})
    projection = CostProjection()
    from eventlog import Event

    usage = Event(seq=1, id="u1", type="metric", source="runner", timestamp="2026-02-21T10:00:00.000Z",
                  version="1.0", payload=usage_payload(60))
    state = project(projection, [usage])
    due = due_events(state, PriceTable(), budgets)
    assert [d.id for d in due] == [alert_id(budgets[0], 50, "total")]
    recorded = Event(seq=150_000, id=due[0].id, type="cost", source="cost", timestamp="2026-02-21T11:00:00.000Z",
                     version="1.0", payload=due[0].payload)
    assert due_events(projection.apply(state, recorded), PriceTable(), budgets) == []


def _race(loki: str, barrier) -> None:
    barrier.wait(10)
    check_budgets(loki)


def test_concurrent_checkers_record_each_alert_once(budgeted):
    emit_usage(budgeted, 12)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(3)
    workers = [ctx.Process(target=_race, args=(str(budgeted), barrier)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    counts = alerts_in_log(budgeted)
    assert len(counts) == 5 and set(counts.values()) == {1}  # 3 + exceeded, and 50 % of daily-usd


def test_kill_9_during_checks_never_duplicates_or_loses_an_alert(budgeted):
    (budgeted / "policies.yaml").write_text(
        "resource:\n" + "".join(f"  - {{name: b{n}, max_tokens: 100, alerts: [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]}}\n"
                                for n in range(40)))
    emit_usage(budgeted, 1)
    script = "import sys; from subscribers.cost_alerts import check_budgets; check_budgets(sys.argv[1])"
    killed_with = []
    for attempt in range(3):
        before = sum(alerts_in_log(budgeted).values())
        child = subprocess.Popen([sys.executable, "-c", script, str(budgeted)], env=subprocess_env())
        deadline = time.monotonic() + 30
        while sum(alerts_in_log(budgeted).values()) <= before + 20 * attempt and child.poll() is None:
            assert time.monotonic() < deadline, "the checker recorded nothing"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
        killed_with.append(sum(alerts_in_log(budgeted).values()))
    assert killed_with[0] < 440, "the first checker finished before the kill: the test proved nothing"
    check_budgets(budgeted)
    counts = alerts_in_log(budgeted)
    assert len(counts) == 40 * 11 and set(counts.values()) == {1}


def test_cost_cli_shows_budget_bars_and_check_records(budgeted):
    emit_usage(budgeted, 7)
    out = run_lokilog("cost", loki=budgeted)
    assert out.returncode == 0, out.stderr
    assert "token-budget" in out.stdout and "70.0% used" in out.stdout and "30.0% left" in out.stdout
    assert "42.0% used" in out.stdout  # 7 x 1000 input tokens x $3/M = $0.021 of $0.05
    checked = run_lokilog("cost", "check", loki=budgeted)
    assert checked.returncode == 0 and checked.stdout.count("recorded") >= 1
    again = run_lokilog("cost", "check", loki=budgeted)
    assert again.stdout.strip() == "no new budget alerts"
    doc = json.loads(run_lokilog("cost", "--json", loki=budgeted).stdout)
    assert {b["budget"]: b["remaining_percent"] for b in doc["budgets"]}["token-budget"] == "30.00"
    assert len(doc["budget_events"]) == checked.stdout.count("recorded")


def test_a_broken_policies_file_is_a_clear_error(budgeted):
    (budgeted / "policies.yaml").write_text("policies:\n  resource:\n    - name: x\n      max_tokens: lots\n")
    out = run_lokilog("cost", loki=budgeted)
    assert out.returncode == 2 and "max_tokens must be a positive" in out.stderr
    (budgeted / "policies.yaml").write_text("policies: [unclosed\n")
    out = run_lokilog("cost", loki=budgeted)
    assert out.returncode == 2 and "policies.yaml: cannot parse" in out.stderr


def test_no_budgets_no_subscriber(loki):
    assert enabled_subscribers(loki, {}) == []
    loki.mkdir(parents=True)
    (loki / "policies.yaml").write_text(POLICIES)
    assert enabled_subscribers(loki, {"LOKI_COST_ALERTS": "0"}) == []
