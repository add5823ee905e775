"""The cost ledger keeps tasks by provider and model; finer task breakdowns fold the log again."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventlog import Event, FileEventLog
from projections.base import project
from projections.cost import CostProjection
from projections.cost.pricing import PriceTable
from projections.cost.report import breakdown, needs_detail, total

from conftest import run_lokilog

_usage = st.fixed_dictionaries({
    "action": st.just("token_usage"),
    "model": st.sampled_from(["claude-sonnet-4", "gpt-4.1", "mystery"]),
    "provider": st.sampled_from(["anthropic", "openai"]),
    "agent_type": st.sampled_from(["qa", "eng", None]),
    "session_id": st.sampled_from(["s1", "s2"]),
    "task_id": st.sampled_from(["t1", "t2", "t3", None]),
    "input_tokens": st.one_of(st.integers(0, 5000), st.just("12"), st.none()),
    "output_tokens": st.integers(0, 900),
    "cache_read_tokens": st.integers(0, 300),
}, optional={"cost_usd": st.sampled_from([0, 0.25, "x"])})
_hours = st.sampled_from(["2026-02-21T10:05:00.000Z", "2026-02-21T11:59:00.000Z", "2026-02-22T00:00:00.000Z"])


def _events(drafts) -> list[Event]:
    return [Event(seq=i, id=f"u{i % 7 if i % 5 == 0 else i}", type="metric", source="runner", timestamp=ts,
                  version="1.0", payload={k: v for k, v in payload.items() if v is not None})
            for i, (payload, ts) in enumerate(drafts, 1)]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_usage, _hours), max_size=40))
def test_compact_task_cells_agree_with_the_detailed_fold(drafts):
    events = _events(drafts)
    compact = project(CostProjection(), events)
    detailed = project(CostProjection(detailed=True), events)
    prices = PriceTable()
    assert compact.cells == detailed.cells
    for by in [(), ("task",), ("task", "model"), ("provider", "task"), ("model",), ("agent", "hour"), ("day",)]:
        assert breakdown(compact, prices, by) == breakdown(detailed, prices, by)
    assert total(compact, prices) == total(detailed, prices)


def test_a_compact_state_refuses_what_it_cannot_answer():
    state = project(CostProjection(), _events([({"action": "token_usage", "input_tokens": 1, "output_tokens": 1},
                                               "2026-02-21T10:05:00.000Z")]))
    assert needs_detail(("task", "hour")) and needs_detail(("task",), "2026-02-21T10")
    assert not needs_detail(("task", "model")) and not needs_detail(("hour",), "2026-02-21T10")
    for by, since in [(("task", "agent"), None), (("task",), "2026-02-21T09")]:
        with pytest.raises(ValueError, match="detailed"):
            breakdown(state, PriceTable(), by, since)


def test_cli_breaks_tasks_down_by_hour_and_since_from_the_log(loki):
    with FileEventLog(loki) as log:
        for task, model in [("t1", "claude-sonnet-4"), ("t2", "gpt-4.1"), ("t1", "gpt-4.1")]:
            log.append("metric", "runner", {"action": "token_usage", "model": model, "task_id": task,
                                            "agent_type": "qa", "input_tokens": 1000, "output_tokens": 10})
        hour = next(log.read()).timestamp[:13]
    out = run_lokilog("cost", "--by", "task,hour,agent", "--json", loki=loki)
    assert out.returncode == 0, out.stderr
    rows = {(r["task"], r["hour"], r["agent"]): r["events"] for r in json.loads(out.stdout)["rows"]}
    assert rows == {("t1", hour, "qa"): 2, ("t2", hour, "qa"): 1}
    out = run_lokilog("cost", "--by", "task", "--since", f"{hour}:00Z", "--json", loki=loki)
    assert out.returncode == 0, out.stderr
    assert {r["task"]: r["events"] for r in json.loads(out.stdout)["rows"]} == {"t1": 2, "t2": 1}
    out = run_lokilog("cost", "--by", "task,model", "--json", loki=loki)
    assert {(r["task"], r["model"]) for r in json.loads(out.stdout)["rows"]} == {
        ("t1", "claude-sonnet-4"), ("t1", "gpt-4.1"), ("t2", "gpt-4.1")}
