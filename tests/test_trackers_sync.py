"""The sync subscribers against a real HTTP server on 127.0.0.1 playing Jira, Linear and GitHub."""
from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("httpx")

from eventlog import FileEventLog
from projections.engine import catch_up
from projections.trackers import TrackerProjection, outbox
from subscribers.trackers.config import load_trackers
from subscribers.trackers.errors import SyncBusyError
from subscribers.trackers.sync import TrackerSync

from fake_trackers import GITHUB_TOKEN, JIRA_EMAIL, JIRA_TOKEN, LINEAR_KEY, FakeTrackers

SHA = "3f2a9c1d" * 5
ENV = {"JIRA_EMAIL": JIRA_EMAIL, "JIRA_API_TOKEN": JIRA_TOKEN, "LINEAR_API_KEY": LINEAR_KEY,
       "GITHUB_TOKEN": GITHUB_TOKEN}


def write_config(loki: Path, url: str, **extra: str) -> None:
    loki.mkdir(parents=True, exist_ok=True)
    more = "".join(f"    {k}: {v}\n" for k, v in extra.items())
    (loki / "config.yaml").write_text(
        "trackers:\n"
        "  defaults:\n    max_retries: 3\n    base_delay: 0.01\n    max_delay: 0.2\n    timeout: 0.5\n" + more +
        f"  jira:\n    base_url: {url}\n    status_map:\n      phase.VERIFY: In Review\n"
        f"  linear:\n    base_url: {url}/graphql\n"
        f"  github:\n    base_url: {url}\n"
    )


@pytest.fixture
def fake():
    server = FakeTrackers()
    yield server
    server.stop()


@pytest.fixture
def setup(loki: Path, fake: FakeTrackers):
    write_config(loki, fake.url)
    fake.add_jira("PROJ-1", summary="Parser")
    fake.add_linear("lin-1")
    return loki


def emit_run(loki: Path, gate_result: str = "pass") -> None:
    """A task linked to one item in each tracker, run through RARV to completion."""
    with FileEventLog(loki) as log:
        log.append("task", "runner", {"action": "created", "task_id": "t1", "title": "Write the parser"}, stream="t1")
        for tracker, ref in (("jira", "PROJ-1"), ("linear", "lin-1"), ("github", "acme/app#7"),
                             ("github", f"acme/app@{SHA}")):
            log.append("tracker", "cli", {"action": "linked", "tracker": tracker, "task_id": "t1", "ref": ref})
        log.append("task", "runner", {"action": "started", "task_id": "t1"}, stream="t1")
        log.append("state", "runner", {"action": "phase", "phase": "VERIFY"})
        log.append("quality", "runner", {"action": "gate", "gate": "unit-tests", "result": gate_result, "task_id": "t1"})
        log.append("task", "runner", {"action": "completed", "task_id": "t1", "duration_ms": 4200}, stream="t1")


def sync_all(loki: Path, **kwargs) -> dict:
    configs = load_trackers(loki)
    return {name: TrackerSync(loki, c, ENV, rng=random.Random(1), **kwargs).run_once() for name, c in configs.items()}


def tracker_events(loki: Path, action: str) -> list:
    with FileEventLog(loki) as log:
        return [e for e in log.read() if e.type == "tracker" and e.action == action]


def test_every_tracker_reaches_the_desired_state(setup: Path, fake: FakeTrackers):
    emit_run(setup)
    reports = sync_all(setup)
    assert all(r.failed == 0 and r.remaining == 0 for r in reports.values()), reports
    jira = fake.jira["PROJ-1"]
    assert jira["status"] == "Done"
    assert [c["properties"][0]["key"] for c in jira["comments"]] == ["lokilog", "lokilog"]
    texts = [c["body"]["content"][0]["content"][0]["text"] for c in jira["comments"]]
    assert texts == ["Quality gate unit-tests: pass (task t1)", "Task t1 completed in 4.2 s."]
    assert fake.linear["lin-1"]["state"] == "Done" and len(fake.linear["lin-1"]["comments"]) == 2
    assert [c["body"].split("\n")[0] for c in fake.gh_comments["acme/app#7"]] == texts
    assert [s["state"] for s in fake.gh_statuses[f"acme/app@{SHA}"]] == ["success"]
    assert fake.gh_statuses[f"acme/app@{SHA}"][0]["context"] == "lokilog/t1"


def test_a_second_drain_and_a_rebuild_send_nothing(setup: Path, fake: FakeTrackers):
    emit_run(setup)
    sync_all(setup)
    writes, requests = fake.writes, len(fake.requests)
    assert sync_all(setup)["jira"].synced == 0
    catch_up(setup, TrackerProjection())  # rebuilding the projection writes views, never requests
    assert (fake.writes, len(fake.requests)) == (writes, requests)


def test_superseded_statuses_are_not_sent(setup: Path, fake: FakeTrackers):
    emit_run(setup)
    sync_all(setup)
    # only the newest desired status of each item went out, not every intermediate one
    assert fake.jira["PROJ-1"].get("transitions") == ["Done"]
    assert fake.linear["lin-1"].get("history") == ["Done"]


def test_rarv_phase_maps_to_a_state_while_in_progress(setup: Path, fake: FakeTrackers):
    with FileEventLog(setup) as log:
        log.append("task", "runner", {"action": "created", "task_id": "t1"})
        log.append("tracker", "cli", {"action": "linked", "tracker": "jira", "task_id": "t1", "ref": "PROJ-1"})
        log.append("task", "runner", {"action": "started", "task_id": "t1"})
        log.append("state", "runner", {"action": "phase", "phase": "VERIFY"})
    sync_all(setup)
    assert fake.jira["PROJ-1"]["status"] == "In Review"


@pytest.mark.parametrize("mode", ["500", "429", "timeout", "drop"])
def test_transient_failures_are_retried_until_they_land(setup: Path, fake: FakeTrackers, mode: str):
    emit_run(setup)
    fake.fail(mode, count=2, match="/comment", retry_after="0" if mode == "429" else None)
    fake.fail(mode, count=1, match="/graphql")
    fake.fail(mode, count=1, match="/issues/7/comments")
    reports = sync_all(setup)
    assert all(r.failed == 0 and r.remaining == 0 for r in reports.values()), reports
    assert len(fake.jira["PROJ-1"]["comments"]) == 2
    assert len(fake.linear_comments) == 2 and len(fake.gh_comments["acme/app#7"]) == 2


def test_retry_after_is_honoured(setup: Path, fake: FakeTrackers):
    emit_run(setup)
    fake.fail("429", count=1, match="/repos/", retry_after="1")
    config = load_trackers(setup)["github"]
    started = time.monotonic()
    report = TrackerSync(setup, config, ENV).run_once()
    assert report.synced == 3 and time.monotonic() - started >= 0.19  # capped at max_delay 0.2


def test_exhausted_retries_record_a_failure_and_a_later_drain_lands_it(setup: Path, fake: FakeTrackers):
    emit_run(setup)
    fake.fail("500", count=4, match="/repos/acme/app/commits")
    report = sync_all(setup)["github"]
    assert report.failed == 1 and report.gave_up == 0 and "HTTP 500" in report.errors[0]
    failed = tracker_events(setup, "failed")
    assert failed[0].payload["attempt"] == 1 and failed[0].payload["gave_up"] is False
    assert sync_all(setup)["github"].synced == 1
    assert len(fake.gh_statuses[f"acme/app@{SHA}"]) == 1


def test_permanent_errors_give_up_until_retry_is_requested(setup: Path, fake: FakeTrackers):
    with FileEventLog(setup) as log:
        log.append("task", "runner", {"action": "created", "task_id": "t1"})
        log.append("tracker", "cli", {"action": "linked", "tracker": "jira", "task_id": "t1", "ref": "PROJ-404"})
    report = sync_all(setup)["jira"]
    assert report.gave_up == 1 and "HTTP 404" in report.errors[0]
    assert sync_all(setup)["jira"].failed == 0  # given up: not retried by itself
    fake.add_jira("PROJ-404")
    with FileEventLog(setup) as log:
        log.append("tracker", "cli", {"action": "retry_requested", "tracker": "jira"})
    assert sync_all(setup)["jira"].synced == 1


def test_attempts_across_drains_are_bounded(setup: Path, fake: FakeTrackers):
    write_config(setup, fake.url, max_attempts="2", max_retries="0")
    emit_run(setup)
    fake.fail("500", count=100, match="/repos/")
    assert sync_all(setup)["github"].gave_up == 0
    assert sync_all(setup)["github"].gave_up == 3
    state = catch_up(setup, TrackerProjection(), write_views=False).state
    assert outbox(state, "github") == [] and len(outbox(state, "github", include_given_up=True)) == 3


def test_jira_subtasks_are_created_once_and_then_synced(setup: Path, fake: FakeTrackers):
    with FileEventLog(setup) as log:
        log.append("task", "runner", {"action": "created", "task_id": "epic-task"})
        log.append("tracker", "cli", {"action": "linked", "tracker": "jira", "task_id": "epic-task", "ref": "PROJ-1"})
        log.append("task", "runner", {"action": "created", "task_id": "child", "title": "Child ${{ github.token }}",
                                      "parent_task_id": "epic-task"})
    sync_all(setup)
    children = [k for k, i in fake.jira.items() if i["parent"] == "PROJ-1"]
    assert children == ["PROJ-2"] and "${{" not in fake.jira["PROJ-2"]["summary"]
    with FileEventLog(setup) as log:
        log.append("task", "runner", {"action": "started", "task_id": "child"})
    sync_all(setup)
    assert fake.jira["PROJ-2"]["status"] == "In Progress"
    assert [k for k, i in fake.jira.items() if i["parent"] == "PROJ-1"] == ["PROJ-2"]


def test_a_lost_outcome_is_found_by_read_back_not_posted_again(setup: Path, fake: FakeTrackers):
    """The request landed but the process died before recording it: the next drain looks first."""
    emit_run(setup)
    sync_all(setup)
    counts = (len(fake.jira["PROJ-1"]["comments"]), len(fake.linear_comments), len(fake.gh_comments["acme/app#7"]))
    # forget every outcome: a fresh .loki with the same desires, against the same trackers
    fresh = setup.parent / "again" / ".loki"
    write_config(fresh, fake.url)
    with FileEventLog(setup) as old, FileEventLog(fresh) as new:
        new.append_many([{"type": e.type, "source": e.source, "payload": e.payload, "id": e.id,
                          "timestamp": e.timestamp, "stream": e.stream}
                         for e in old.read() if e.source != "lokilog"])
    reports = sync_all(fresh)
    assert all(r.synced > 0 and r.failed == 0 for r in reports.values())
    assert counts == (len(fake.jira["PROJ-1"]["comments"]), len(fake.linear_comments),
                      len(fake.gh_comments["acme/app#7"]))


def test_credentials_never_reach_the_log_or_errors(setup: Path, fake: FakeTrackers):
    emit_run(setup)
    fake.fail("500", count=100, match="/graphql")
    report = sync_all(setup)["linear"]
    assert report.failed
    stored = b"".join(p.read_bytes() for p in (setup / "events").rglob("*") if p.is_file())
    for secret in (JIRA_TOKEN, LINEAR_KEY, GITHUB_TOKEN):
        assert secret.encode() not in stored
        assert all(secret not in e for e in report.errors)


def test_oversized_responses_are_refused(setup: Path, fake: FakeTrackers):
    write_config(setup, fake.url, max_response_bytes="100000")
    emit_run(setup)
    fake.fail("huge", count=1, match="/repos/acme/app/commits")
    report = sync_all(setup)["github"]
    assert report.gave_up == 1 and "larger than 100000 bytes" in report.errors[0]


def test_missing_credentials_are_a_clear_error(setup: Path):
    emit_run(setup)
    config = load_trackers(setup)["github"]
    with pytest.raises(Exception, match="set the environment variable GITHUB_TOKEN"):
        TrackerSync(setup, config, {}).run_once()


def test_one_drain_per_tracker_at_a_time(setup: Path, fake: FakeTrackers):
    emit_run(setup)
    fake.delay = 0.1
    config = load_trackers(setup)["github"]
    first = TrackerSync(setup, config, ENV)
    worker = threading.Thread(target=first.run_once)
    worker.start()
    try:
        assert fake.wait_writes(1, 10)
        with pytest.raises(SyncBusyError, match="another process is syncing github"):
            TrackerSync(setup, config, ENV, lock_timeout=0.05).run_once()
    finally:
        worker.join(20)


def test_stop_leaves_ops_pending(setup: Path, fake: FakeTrackers):
    emit_run(setup)
    stop = threading.Event()
    stop.set()
    report = TrackerSync(setup, load_trackers(setup)["jira"], ENV, stop=stop).run_once()
    assert report.stopped and report.synced == 0 and report.remaining == 3


def test_drain_protocol_runs_through_the_subscriber_cursor(setup: Path, fake: FakeTrackers):
    from subscribers.base import drain
    from subscribers.cursor import Cursor
    from subscribers.registry import enabled_subscribers

    emit_run(setup)
    subscribers = enabled_subscribers(setup, ENV)
    assert sorted(s.name for s in subscribers) == ["tracker-github", "tracker-jira", "tracker-linear"]
    for subscriber in subscribers:
        drain(setup, subscriber)
    assert fake.jira["PROJ-1"]["status"] == "Done"
    assert Cursor(setup, "tracker-jira").seq > 0


def test_the_watch_path_waits_out_the_backoff_of_failed_ops(setup: Path, fake: FakeTrackers):
    write_config(setup, fake.url, base_delay="30", max_retries="0")
    emit_run(setup)
    fake.fail("500", count=100, match="/repos/")
    subscriber = TrackerSync(setup, load_trackers(setup)["github"], ENV)
    assert subscriber.run_once().failed == 3
    before = len(fake.requests)
    with FileEventLog(setup) as log:
        receipt = log.append("task", "runner", {"action": "created", "task_id": "unrelated"})
        subscriber.handle(log.get(receipt.seq))
    assert len(fake.requests) == before  # a new event does not hammer a failing tracker
    fake.faults.clear()
    assert subscriber.run_once().synced == 3  # `sync run` forces the drain


def test_comments_can_be_switched_off(setup: Path, fake: FakeTrackers):
    (setup / "config.yaml").write_text(
        f"trackers:\n  github:\n    base_url: {fake.url}\n    comments: false\n")
    emit_run(setup)
    report = sync_all(setup)["github"]
    assert report.synced == 3 and fake.gh_comments["acme/app#7"] == []
    assert [s["state"] for s in fake.gh_statuses[f"acme/app@{SHA}"]] == ["success"]


def test_tracker_specific_rate_limits_are_transient(setup: Path, fake: FakeTrackers):
    emit_run(setup)
    fake.fail("linear-ratelimited", count=2, match="/graphql")
    fake.fail("github-403-limit", count=2, match="/repos/")
    reports = sync_all(setup)
    assert reports["linear"].synced == 3 and reports["github"].synced == 3, reports
    assert reports["linear"].failed == reports["github"].failed == 0
