"""The NATS bridge against a real nats-server: exactly once across kills, pauses and late retries."""
from __future__ import annotations

import asyncio
import signal
import time

import pytest

pytest.importorskip("nats")

from eventlog import FileEventLog, NewEvent  # noqa: E402
from subscribers.nats.identity import BridgeError, origin_id  # noqa: E402
from subscribers.nats.pull import ORIGIN_FIELD, mirror  # noqa: E402
from subscribers.nats.push import Bridge  # noqa: E402
from subscribers.nats.subjects import escape_token, parse_subject, subject_for, unescape_token  # noqa: E402
from tests.nats_helpers import (  # noqa: E402,F401 (nats_server is a fixture)
    assert_exactly_once, bridge_once, cursor_seq, finish, make_log, nats_server, spawn_bridge, stream_entries,
    wait_for,
)


@pytest.mark.parametrize("text", ["", "_", "a.b", "*", ">", "a b\tc", "%41", "täsk-1", "x_y"])
def test_subject_tokens_are_reversible_and_single(text):
    token = escape_token(text)
    assert unescape_token(token) == text
    assert not set(token) & set(".*> \t") and token
    assert parse_subject(subject_for(text, text)) == (text, text)
    assert parse_subject(subject_for("p", None)) == ("p", None)


def test_three_logs_into_one_stream_and_one_merged_view(nats_server, tmp_path):
    dirs = [tmp_path / f"m{i}" / ".loki" for i in range(3)]
    for i, d in enumerate(dirs):
        make_log(d, 300 + i * 50, f"m{i}")
        bridge_once(d, nats_server.url)
    for d in dirs:  # a second pass publishes nothing
        assert bridge_once(d, nats_server.url).published == 0
    assert_exactly_once(nats_server.url, dirs)

    view = tmp_path / "view"
    assert asyncio.run(mirror(view, nats_server.url, "LOKI")) == 1050
    assert asyncio.run(mirror(view, nats_server.url, "LOKI")) == 0
    with pytest.raises(BridgeError):
        Bridge(view, nats_server.url)

    # Oracle: the union of the local logs, taken in stream order, folded by the same projection.
    by_origin = {origin_id(d): {e.seq: e for e in FileEventLog(d).read(ingest=False)} for d in dirs}
    oracle = tmp_path / "oracle"
    FileEventLog(oracle).append_many(
        NewEvent(type=e.type, source=e.source, payload=e.payload, id=e.id, timestamp=e.timestamp, stream=e.stream)
        for e in (by_origin[o][s] for o, s in stream_entries(nats_server.url)))
    from projections.engine import catch_up
    from projections.run_state import RunStateProjection, summary

    assert summary(catch_up(view, RunStateProjection()).state) == summary(catch_up(oracle, RunStateProjection()).state)
    mirrored = list(FileEventLog(view).read(ingest=False))
    first = mirrored[0]
    assert first.extra[ORIGIN_FIELD]["seq"] >= 1 and first.extra[ORIGIN_FIELD]["id"] in by_origin
    local = by_origin[first.extra[ORIGIN_FIELD]["id"]][first.extra[ORIGIN_FIELD]["seq"]]
    assert (first.id, first.payload, first.stream, first.timestamp) == (local.id, local.payload, local.stream, local.timestamp)


def test_kill9_of_the_bridge_mid_run_loses_and_duplicates_nothing(nats_server, tmp_path):
    root = tmp_path / "a" / ".loki"
    log = make_log(root, 15000, "a")
    for _ in range(2):  # bounded kill loop
        proc = spawn_bridge(root, nats_server.url)
        before = cursor_seq(root)
        assert wait_for(lambda: cursor_seq(root) > before or proc.poll() is not None, 20)
        proc.kill()
        finish(proc)
    proc = spawn_bridge(root, nats_server.url, "--once")
    rc, err = finish(proc)
    assert rc == 0, err
    assert cursor_seq(root) == log.head_seq
    assert_exactly_once(nats_server.url, [root])


def test_server_kill9_and_restart_with_its_store(nats_server, tmp_path):
    root = tmp_path / "a" / ".loki"
    log = make_log(root, 20000, "a")
    proc = spawn_bridge(root, nats_server.url)
    try:
        assert wait_for(lambda: cursor_seq(root) > 0, 20)
        nats_server.kill9()
        time.sleep(0.5)
        assert proc.poll() is None, "the bridge must wait and retry, not exit"
        nats_server.start()
        assert wait_for(lambda: cursor_seq(root) == log.head_seq, 30)
    finally:
        proc.send_signal(signal.SIGTERM)
        finish(proc)
    assert_exactly_once(nats_server.url, [root])


def test_paused_server_bridge_waits_bounded_and_resumes(nats_server, tmp_path):
    root = tmp_path / "a" / ".loki"
    log = make_log(root, 200, "a")
    proc = spawn_bridge(root, nats_server.url)
    try:
        assert wait_for(lambda: cursor_seq(root) == log.head_seq, 20)
        nats_server.pause()
        make_log(root, 500, "b")
        time.sleep(3)
        assert proc.poll() is None
        assert cursor_seq(root) == 200
        nats_server.resume()
        assert wait_for(lambda: cursor_seq(root) == 700, 30)
    finally:
        nats_server.resume()
        proc.send_signal(signal.SIGTERM)
        finish(proc)
    assert_exactly_once(nats_server.url, [root])


def test_retry_after_the_dedup_window_does_not_duplicate(nats_server, tmp_path):
    root = tmp_path / "a" / ".loki"
    make_log(root, 400, "a")
    bridge_once(root, nats_server.url, duplicate_window=0.5)
    # The cursor is lost (as if the bridge died before committing); the window has passed.
    (root / "events" / "cursors" / "nats-LOKI.json").unlink()
    time.sleep(1.2)
    again = bridge_once(root, nats_server.url, duplicate_window=0.5)
    assert (again.published, again.skipped) == (0, 400)
    assert_exactly_once(nats_server.url, [root])


def test_once_against_an_unreachable_server_exits_1(tmp_path):
    from tests.nats_server import free_port

    root = tmp_path / "a" / ".loki"
    make_log(root, 3, "a")
    proc = spawn_bridge(root, f"nats://127.0.0.1:{free_port()}", "--once")
    rc, err = finish(proc)
    assert rc == 1
    assert "cannot reach NATS" in err and "Traceback" not in err
