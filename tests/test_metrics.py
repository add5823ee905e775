"""Metrics: reference names, types and labels; scraped over real HTTP; equal after a rebuild."""
from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import urllib.request

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from commands.demo import simulated_run
from eventlog import Event, FileEventLog
from projections.base import project
from projections.engine import rebuild
from projections.metrics import MetricsProjection, MetricsState
from projections.registry import all_projections
from subscribers.prometheus import MetricsServer, render

from conftest import read_line, subprocess_env


def parse(text: str) -> dict[str, dict]:
    """Family name -> (type, {(sample name, sorted labels): value}), via prometheus_client's parser."""
    found = {}
    for family in text_string_to_metric_families(text):
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in family.samples}
        found[family.name] = (family.type, samples)
    return found


@pytest.fixture
def demo_loki(loki):
    with FileEventLog(loki) as log:
        log.append_many(simulated_run())
        log.append("council", "runner", {"action": "vote", "reviewer": "r1", "verdict": "approve"})
        log.append("council", "runner", {"action": "vote", "reviewer": "r2", "verdict": "approve"})
        log.append("council", "runner", {"action": "vote", "reviewer": "r3", "approved": False})
        log.append("agent", "runner", {"action": "start", "agent_id": "agent-2", "agent_type": "reviewer"})
    return loki


def test_reference_metrics_with_their_types_and_labels(demo_loki):
    metrics = parse(render(demo_loki).decode())
    kind, samples = metrics["loki_task_duration_seconds"]
    assert kind == "histogram"
    assert samples[("loki_task_duration_seconds_count", ())] == 3
    assert samples[("loki_task_duration_seconds_sum", ())] == 126.0
    assert samples[("loki_task_duration_seconds_bucket", (("le", "30.0"),))] == 0
    assert samples[("loki_task_duration_seconds_bucket", (("le", "60.0"),))] == 3
    assert metrics["loki_quality_gate_pass"] == ("counter", {("loki_quality_gate_pass_total", (("gate", "unit-tests"),)): 2})
    assert metrics["loki_quality_gate_fail"] == ("counter", {("loki_quality_gate_fail_total", (("gate", "unit-tests"),)): 1})
    assert metrics["loki_agent_active"] == ("gauge", {("loki_agent_active", ()): 1})
    assert metrics["loki_tokens_consumed"][0] == "counter"
    assert metrics["loki_tokens_consumed"][1] == {
        ("loki_tokens_consumed_total", (("agent_type", "engineer"), ("model", "claude-sonnet-4"))): 74700}
    assert metrics["loki_council_approval_rate"] == ("gauge", {("loki_council_approval_rate", ()): pytest.approx(2 / 3)})
    events = metrics["loki_events"][1]
    assert events[("loki_events_total", (("source", "runner"), ("type", "task")))] == 9
    assert metrics["loki_cost_usd"][1][("loki_cost_usd_total", (("model", "claude-sonnet-4"), ("provider", "anthropic")))] == 0.285075
    assert metrics["loki_log_head_seq"][1][("loki_log_head_seq", ())] == 29
    assert metrics["loki_projection_lag_events"][0] == "gauge"
    assert metrics["loki_ingest_errors"][1][("loki_ingest_errors", ())] == 0


def test_ingest_errors_and_subscriber_lag_come_from_disk(demo_loki):
    pending = demo_loki / "events" / "pending"
    pending.mkdir(parents=True, exist_ok=True)
    (pending / "broken.json").write_text("{not json")
    cursors = demo_loki / "events" / "cursors"
    cursors.mkdir(parents=True, exist_ok=True)
    (cursors / "exporter.json").write_text('{"seq": 20}')
    metrics = parse(render(demo_loki).decode())
    assert metrics["loki_ingest_errors"][1][("loki_ingest_errors", ())] == 1
    # 29 events, plus the one recording that broken.json was set aside, minus the cursor's 20
    assert metrics["loki_subscriber_lag_events"][1] == {("loki_subscriber_lag_events", (("subscriber", "exporter"),)): 10}


def test_values_after_a_rebuild_equal_the_values_before(demo_loki):
    rebuild(demo_loki, all_projections())
    before = render(demo_loki)
    view = (demo_loki / "metrics" / "metrics.prom").read_bytes()
    shutil.rmtree(demo_loki / "metrics")
    shutil.rmtree(demo_loki / "cost")
    rebuild(demo_loki, all_projections())
    assert render(demo_loki) == before
    assert (demo_loki / "metrics" / "metrics.prom").read_bytes() == view
    assert parse(view.decode())["loki_agent_active"][1][("loki_agent_active", ())] == 1


_events = st.lists(st.tuples(
    st.sampled_from(["task", "quality", "agent", "metric", "council", "error", "custom"]),
    st.sampled_from(["completed", "failed", "gate", "start", "stop", "token_usage", "vote", "crash"]),
    st.integers(0, 5), st.one_of(st.none(), st.integers(-5, 10**7), st.floats(0, 10**6), st.text(max_size=3)),
), max_size=40)


@settings(max_examples=60, deadline=None)
@given(_events, st.integers(0, 40))
def test_resuming_from_a_snapshot_equals_a_full_fold(specs, cut):
    events = [
        Event(seq=n, id=f"e{n % 7 if kind == 'metric' else n}", type=kind, source="runner",
              timestamp="2026-02-21T10:00:00.000Z", version="1.0",
              payload={"action": action, "agent_id": f"a{k}", "gate": f"g{k}", "result": "pass" if k % 2 else "fail",
                       "duration_ms": value, "input_tokens": value, "model": f"m{k}", "approved": k % 2 == 0})
        for n, (kind, action, k, value) in enumerate(specs, 1)
    ]
    projection = MetricsProjection()
    canonical = msgspec.json.Encoder(order="deterministic").encode
    full = project(projection, events)
    head = msgspec.json.decode(canonical(project(projection, events[:cut])), type=MetricsState)
    assert canonical(project(projection, events[cut:], head)) == canonical(full)


def test_server_in_process_stops_cleanly(demo_loki):
    with MetricsServer(demo_loki, 0) as server:
        with urllib.request.urlopen(server.url, timeout=10) as response:
            assert response.status == 200
            assert b"loki_agent_active 1.0" in response.read()


def test_metrics_cli_prints_the_exposition(demo_loki):
    out = subprocess.run([sys.executable, "-m", "commands", "metrics"], env=subprocess_env(LOKI_DIR=str(demo_loki)),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert parse(out.stdout)["loki_quality_gate_pass"][1]


def test_serve_over_real_http_follows_new_events_and_stops_on_sigterm(demo_loki):
    child = subprocess.Popen(
        [sys.executable, "-m", "commands", "metrics", "serve", "--port", "0", "--duration", "120"],
        env=subprocess_env(LOKI_DIR=str(demo_loki)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = read_line(child.stdout)
        assert line.startswith("serving http://127.0.0.1:"), child.stderr.read()
        url = line.split()[1]
        first = _scrape(url)
        assert first == parse(render(demo_loki).decode())
        with FileEventLog(demo_loki) as log:
            log.append("quality", "runner", {"action": "gate", "gate": "lint", "result": "fail"})
            log.append("agent", "runner", {"action": "stop", "agent_id": "agent-2"})
        second = _scrape(url)
        assert second["loki_quality_gate_fail"][1][("loki_quality_gate_fail_total", (("gate", "lint"),))] == 1
        assert second["loki_agent_active"][1][("loki_agent_active", ())] == 0
        assert second == parse(render(demo_loki).decode())  # incremental scrape == a fresh fold
    finally:
        child.send_signal(signal.SIGTERM)
        code = child.wait(30)
        child.stdout.close()
        child.stderr.close()
    assert code == 0


def test_serve_on_a_busy_port_is_a_clear_error(demo_loki):
    with MetricsServer(demo_loki, 0) as server:
        out = subprocess.run([sys.executable, "-m", "commands", "metrics", "serve", "--port", str(server.port)],
                             env=subprocess_env(LOKI_DIR=str(demo_loki)), capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "cannot serve on 127.0.0.1" in out.stderr


def _scrape(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=20) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        return parse(response.read().decode())


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["m1", "m2"]), st.sampled_from(["engineer", "reviewer"]),
                          st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 3)), max_size=20))
def test_token_metrics_agree_with_the_cost_ledger(rows):
    from projections.cost import CostProjection
    from projections.cost.report import breakdown
    from projections.cost.pricing import PriceTable

    events = [Event(seq=n, id=f"u{dup}" if dup else f"e{n}", type="metric", source="runner",
                    timestamp="2026-02-21T10:00:00.000Z", version="1.0",
                    payload={"action": "token_usage", "model": model, "agent_type": agent, "input_tokens": a,
                             "output_tokens": b, "cache_read_input_tokens": a // 3})
              for n, (model, agent, a, b, dup) in enumerate(rows, 1)]
    metrics = project(MetricsProjection(), events)
    cost = project(CostProjection(), events)
    from_cost = {"\x1f".join(t.key): t.tokens for t in breakdown(cost, PriceTable(), ("model", "agent"))}
    assert {k: v for k, v in metrics.tokens.items()} == from_cost


def test_demo_shows_the_cost_table_and_metrics(tmp_path):
    out = subprocess.run([sys.executable, "-m", "commands", "demo", str(tmp_path)], env=subprocess_env(),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "== Cost (lokilog cost) ==" in out.stdout and "task-003" in out.stdout and "$0.29" in out.stdout
    assert 'loki_tokens_consumed_total{agent_type="engineer",model="claude-sonnet-4"} 74700.0' in out.stdout
