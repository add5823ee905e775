"""OTLP export end to end: the real CLI, a real receiver on 127.0.0.1 decoding protobuf bodies."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, run_lokilog, subprocess_env
from otlp_receiver import Receiver

DEMO_SPANS = 12


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    loki = tmp_path / "project" / ".loki"
    done = run_lokilog("demo", str(loki.parent), loki=loki)
    assert done.returncode == 0, done.stderr
    return loki


def export(loki: Path, endpoint: str, *extra: str, **env: str):
    return run_lokilog("otel", "export", "--once", "--json", *extra, loki=loki, LOKI_OTEL_ENDPOINT=endpoint,
                       OTEL_EXPORTER_OTLP_TIMEOUT=env.pop("timeout", "2000"), **env)


def attributes(span) -> dict:
    return {a.key: getattr(a.value, a.value.WhichOneof("value")) for a in span.attributes}


def test_the_demo_run_arrives_as_one_trace_with_its_hierarchy_and_metrics(demo: Path):
    with Receiver() as receiver:
        done = export(demo, receiver.url, OTEL_SERVICE_NAME="ci-run",
                      OTEL_RESOURCE_ATTRIBUTES="deployment.environment=test,team=core",
                      OTEL_EXPORTER_OTLP_HEADERS="x-api-key=s%3Dcret")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["spans_sent"] == DEMO_SPANS
        received = list(receiver.spans.values())
        assert len(received) == DEMO_SPANS and receiver.span_copies == DEMO_SPANS
        resource = {a.key: a.value.string_value for a in received[0][0].attributes}
        assert resource["service.name"] == "ci-run" and resource["team"] == "core"
        assert resource["loki.project.id"] == "project"
        assert receiver.headers[0]["x-api-key"] == "s=cret"
        assert {path for path, _ in receiver.requests} == {"/v1/traces", "/v1/metrics"}
        assert all(kind == "application/x-protobuf" for _, kind in receiver.requests)
        spans = [span for _, span in received]
        assert len({span.trace_id for span in spans}) == 1
        by_id = {span.span_id: span for span in spans}
        root = [s for s in spans if not s.parent_span_id]
        assert [s.name for s in root] == ["loki.project"]
        for span in spans:
            if span.name == "loki.quality_gate":
                assert by_id[span.parent_span_id].name == "loki.rarv_phase"
                assert by_id[by_id[span.parent_span_id].parent_span_id].name == "loki.task"
            assert span.start_time_unix_nano <= span.end_time_unix_nano
        failed_gate = next(s for s in spans if attributes(s).get("loki.quality_gate.passed") is False)
        assert attributes(failed_gate)["loki.task.id"] == "task-003" and failed_gate.status.code == 2
        metrics = receiver.last_metrics()
        assert metrics["loki_quality_gate_pass_total"].sum.data_points[0].as_int == 2
        assert metrics["loki_quality_gate_fail_total"].sum.data_points[0].as_int == 1
        assert metrics["loki_task_duration_seconds"].histogram.data_points[0].count == 3
        assert metrics["loki_task_duration_seconds"].histogram.data_points[0].sum == 126.0
        assert metrics["loki_agent_active"].gauge.data_points[0].as_int == 0
        tokens = {attributes(p)["loki.token.kind"]: p.as_int for p in metrics["loki_tokens_consumed_total"].sum.data_points}
        assert tokens == {"input": 36000, "output": 10200, "cache_read": 24000, "cache_write": 4500}
        # Nothing new: a second export sends nothing again.
        again = export(demo, receiver.url)
        assert again.returncode == 0 and json.loads(again.stdout)["spans_sent"] == 0
        assert receiver.span_copies == DEMO_SPANS


def test_a_resend_after_losing_the_cursor_is_identical(demo: Path):
    with Receiver() as receiver:
        assert export(demo, receiver.url).returncode == 0
        first = {sid: span.SerializeToString(deterministic=True) for sid, (_, span) in receiver.spans.items()}
        (demo / "events" / "cursors" / "otel.json").unlink()
        assert export(demo, receiver.url).returncode == 0
        second = {sid: span.SerializeToString(deterministic=True) for sid, (_, span) in receiver.spans.items()}
        assert receiver.span_copies == 2 * DEMO_SPANS and first == second


def test_json_protocol(demo: Path):
    with Receiver() as receiver:
        done = export(demo, receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL="http/json")
        assert done.returncode == 0, done.stderr
        assert {kind for _, kind in receiver.requests} == {"application/json"}
        assert len(receiver.spans) == DEMO_SPANS


@pytest.mark.parametrize("faults", [["500"], ["429"], ["reset"], ["500", "reset", "429"]])
def test_transient_collector_failures_are_retried_within_the_batch(demo: Path, faults: list[str]):
    with Receiver() as receiver:
        receiver.faults = list(faults)
        done = export(demo, receiver.url)
        assert done.returncode == 0, done.stderr
        assert len(receiver.spans) == DEMO_SPANS


def test_a_collector_slower_than_the_timeout_loses_nothing_once_it_is_back(demo: Path):
    with Receiver() as receiver:
        receiver.faults = ["stall:1.0"] * 8
        started = time.monotonic()
        done = export(demo, receiver.url, timeout="300")
        assert done.returncode == 1 and "not delivered" in done.stderr and "Traceback" not in done.stderr
        assert time.monotonic() - started < 20
        status = json.loads(run_lokilog("otel", "status", "--json", loki=demo, LOKI_OTEL_ENDPOINT=receiver.url).stdout)
        assert status["position"] == 0
        receiver.faults = []
        assert export(demo, receiver.url).returncode == 0
        assert len(receiver.spans) == DEMO_SPANS


def test_a_collector_that_is_down_blocks_no_writer(demo: Path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"  # bound, never listening: refused
        done = export(demo, dead)
        assert done.returncode == 1 and "not delivered" in done.stderr
    emitted = run_lokilog("emit", "task", "--payload", '{"action":"created","task_id":"t9"}', loki=demo,
                          LOKI_OTEL_ENDPOINT=dead)
    assert emitted.returncode == 0, emitted.stderr
    watched = run_lokilog("watch", "--once", "--json", loki=demo, LOKI_OTEL_ENDPOINT=dead)
    report = json.loads(watched.stdout)
    assert report["projections"]["run-state"] >= 1 and any("otel" in e for e in report["errors"])
    with Receiver() as receiver:
        assert export(demo, receiver.url).returncode == 0
        assert len(receiver.spans) == DEMO_SPANS


def test_watch_exports_as_part_of_its_cycle(demo: Path):
    with Receiver() as receiver:
        watched = run_lokilog("watch", "--once", "--json", loki=demo, OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url)
        assert watched.returncode == 0, watched.stderr
        assert json.loads(watched.stdout)["delivered"]["otel"] == DEMO_SPANS
        assert len(receiver.spans) == DEMO_SPANS


def test_kill_9_of_the_exporter_mid_batch_leaves_no_span_missing(demo: Path):
    with Receiver() as receiver:
        receiver.faults = ["stall:5"]
        child = subprocess.Popen([sys.executable, "-m", "commands", "otel", "export", "--once"],
                                 env=subprocess_env(LOKI_DIR=str(demo), LOKI_OTEL_ENDPOINT=receiver.url),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 20
            while not receiver.requests and time.monotonic() < deadline:
                time.sleep(0.02)
            assert receiver.requests, "the exporter never sent its batch"
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=10)
        assert not receiver.spans
        receiver.faults = []
        assert export(demo, receiver.url).returncode == 0
        assert len(receiver.spans) == DEMO_SPANS


@pytest.mark.parametrize("endpoint", ["ftp://127.0.0.1:21", "file:///etc/passwd", "127.0.0.1:4318", "http://"])
def test_only_http_and_https_endpoints_are_accepted(demo: Path, endpoint: str):
    done = export(demo, endpoint)
    assert done.returncode == 2 and "http:// or https://" in done.stderr and "Traceback" not in done.stderr


def test_without_an_endpoint_nothing_of_it_is_imported_started_or_written(demo: Path):
    script = (
        "import sys, threading, json\n"
        "from pathlib import Path\n"
        "from projections.registry import all_projections\n"
        "from subscribers.registry import enabled_subscribers\n"
        "from subscribers.watch import run_once\n"
        "loki = Path(sys.argv[1])\n"
        "subs = enabled_subscribers(loki, {})\n"
        "run_once(loki, all_projections(), subs)\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('opentelemetry', 'google', 'httpx')"
        " or m.startswith('subscribers.otel'))\n"
        "print(json.dumps({'subs': [s.name for s in subs], 'modules': heavy, 'threads': threading.active_count()}))\n"
    )
    env = subprocess_env()
    for name in ("LOKI_OTEL_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        env.pop(name, None)
    done = subprocess.run([sys.executable, "-c", script, str(demo)], env=env, capture_output=True, text=True,
                          timeout=60, cwd=REPO)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert "otel" not in found["subs"] and found["modules"] == [] and found["threads"] == 1
    assert not (demo / "events" / "cursors" / "otel.json").exists()
    status = run_lokilog("otel", "status", "--json", loki=demo, **{"LOKI_OTEL_ENDPOINT": ""})
    assert json.loads(status.stdout) == {"configured": False}


def test_open_spans_wait_for_their_end(tmp_path: Path):
    loki = tmp_path / ".loki"
    with Receiver() as receiver:
        for payload in ('{"action":"start","session_id":"s1"}', '{"action":"started","task_id":"t1"}'):
            kind = "session" if "session_id" in payload else "task"
            assert run_lokilog("emit", kind, "--payload", payload, loki=loki).returncode == 0
        done = export(loki, receiver.url)
        assert done.returncode == 0 and json.loads(done.stdout)["spans_sent"] == 0
        for payload in ('{"action":"completed","task_id":"t1"}', '{"action":"end","session_id":"s1"}'):
            kind = "session" if "session_id" in payload else "task"
            assert run_lokilog("emit", kind, "--payload", payload, loki=loki).returncode == 0
        done = export(loki, receiver.url)
        assert json.loads(done.stdout)["spans_sent"] == 2
        names = sorted(span.name for _, span in receiver.spans.values())
        assert names == ["loki.project", "loki.task"]
        assert os.path.exists(loki / "events" / "cursors" / "otel.json")
