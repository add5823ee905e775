"""The healing rules and the history they judge against: pure functions, every rule one test."""
from __future__ import annotations

import collections

from hypothesis import given, settings
from hypothesis import strategies as st

from eventlog import Event
from subscribers.healing.history import History, judge, observe
from subscribers.healing.rules import (
    ESCALATED, PERMANENT, RETRY, ROLLBACK, SKIP, TRANSIENT, UNCLASSIFIED, HealingSettings, classify, decide,
    failure_of,
)

SETTINGS = HealingSettings(max_attempts=3, backoff_base=5.0, backoff_cap=12.0)


def event(seq: int, type_: str, **payload) -> Event:
    return Event(seq=seq, id=f"e{seq}", type=type_, source="runner", timestamp="2026-01-01T00:00:00.000Z",
                 version="1.0", payload=payload)


def failed(seq: int, task: str, error: str, **extra) -> Event:
    return event(seq, "task", action="failed", task_id=task, error=error, **extra)


def test_timeouts_rate_limits_and_unavailable_services_are_transient():
    for text in ("request timed out after 30s", "TimeoutError", "429 Too Many Requests", "rate limit hit",
                 "503 Service Unavailable", "connection reset by peer"):
        assert classify(failure_of(failed(1, "t", text)), frozenset(), False) == TRANSIENT, text


def test_a_failure_of_a_flaky_gate_is_transient_and_of_another_gate_is_not():
    flaky = failure_of(failed(1, "t", "coverage 71% < 80%", gate="quality"))
    assert classify(flaky, frozenset({"quality"}), False) == TRANSIENT
    assert classify(flaky, frozenset({"security"}), False) == UNCLASSIFIED


def test_a_policy_denial_is_escalated_even_when_it_mentions_a_timeout():
    denied = failure_of(event(1, "error", error_class="PolicyDenied", message="timeout writing /etc", task_id="t"))
    decision = decide(denied, 0, False, frozenset(), "cp-1", SETTINGS)
    assert (decision.action, decision.classification) == (ESCALATED, PERMANENT)


def test_an_error_without_a_task_is_skipped():
    decision = decide(failure_of(event(1, "error", error_class="Crash", message="boom")), 0, False, frozenset(),
                      None, SETTINGS)
    assert decision.action == SKIP


def test_transient_retries_back_off_exponentially_up_to_the_cap_then_escalate():
    failure = failure_of(failed(1, "t", "timed out"))
    steps = [decide(failure, n, True, frozenset(), "cp-1", SETTINGS) for n in range(4)]
    assert [(s.action, s.attempt, s.backoff_seconds) for s in steps] == [
        (RETRY, 1, 5.0), (RETRY, 2, 10.0), (RETRY, 3, 12.0), (ESCALATED, None, None)]


def test_a_repeated_identical_failure_rolls_back_or_escalates_without_a_checkpoint():
    failure = failure_of(failed(2, "t", "assert x == 1"))
    assert decide(failure, 1, True, frozenset(), "cp-1", SETTINGS).action == ROLLBACK
    assert decide(failure, 1, True, frozenset(), None, SETTINGS).action == ESCALATED


def test_signatures_mask_numbers_and_hex_ids_so_attempts_match():
    one = failure_of(failed(1, "t", "assertion failed at foo.py:12 (run 3f9a1c0e22)"))
    two = failure_of(failed(2, "t", "assertion failed at foo.py:13 (run 77aa01bc9e)"))
    assert one.signature == two.signature


def test_an_optional_task_is_skipped_and_a_first_unknown_failure_is_retried_once():
    assert decide(failure_of(failed(1, "t", "x", optional=True)), 0, False, frozenset(), None, SETTINGS).action == SKIP
    first = failure_of(failed(1, "t", "segfault"))
    assert decide(first, 0, False, frozenset(), None, SETTINGS).action == RETRY
    assert decide(first, 1, False, frozenset(), None, SETTINGS).action == ESCALATED


def test_history_rolls_back_to_a_checkpoint_before_the_first_identical_failure():
    history = History()
    for e in (failed(5, "t", "assert 1"), failed(9, "t", "assert 2")):
        if e.seq == 9:
            asked = []
            decision = judge(history, failure_of(e), SETTINGS, lambda seq: asked.append(seq) or "cp-4")
            assert decision.action == ROLLBACK and asked == [5]
        observe(history, e, SETTINGS)


def test_a_completed_task_starts_afresh_and_an_applied_flaky_mark_counts():
    history = History()
    mark = dict(action="suggestion_applied", kind="mark_flaky", gate="quality", approval_id="apr-sug-1")
    for e in (failed(1, "t", "timed out"), event(2, "task", action="completed", task_id="t"),
              event(3, "governance", **mark)):
        observe(history, e, SETTINGS)
    assert "t" not in history.tasks and history.flaky_gates == set()  # never granted: ignored
    for e in (event(4, "approval", action="granted", approval_id="apr-sug-1"), event(5, "governance", **mark)):
        observe(history, e, SETTINGS)
    assert history.flaky_gates == {"quality"}
    decision = judge(history, failure_of(failed(4, "u", "coverage low", gate="quality")), SETTINGS)
    assert (decision.action, decision.classification) == (RETRY, TRANSIENT)


_errors = st.sampled_from(["timed out", "rate limit", "assert 1", "assert 2", "KeyError: x", "denied by policy"])
_steps = st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), _errors, st.booleans()), max_size=40)


@settings(max_examples=200, deadline=None)
@given(_steps)
def test_retries_are_bounded_and_judging_resumes_identically_from_any_point(steps):
    """Per task, retries since its last completion never exceed the limit; and the decisions made
    folding the whole history equal those made by a fresh history rebuilt at every failure."""
    events, seq = [], 0
    for task, error, completes in steps:
        seq += 1
        events.append(failed(seq, task, error))
        if completes:
            seq += 1
            events.append(event(seq, "task", action="completed", task_id=task))
    history, decisions, retries = History(), [], collections.Counter()
    for e in events:
        if e.payload["action"] == "failed":
            decision = judge(history, failure_of(e), SETTINGS, lambda s: "cp")
            decisions.append(decision.action)
            retries[e.payload["task_id"]] += decision.action == RETRY
            assert retries[e.payload["task_id"]] <= SETTINGS.max_attempts
        else:
            retries.pop(e.payload["task_id"], None)
        observe(history, e, SETTINGS)
    again = []
    for i, e in enumerate(events):
        if e.payload["action"] == "failed":
            fresh = History()
            for earlier in events[:i]:
                observe(fresh, earlier, SETTINGS)
            again.append(judge(fresh, failure_of(e), SETTINGS, lambda s: "cp").action)
    assert again == decisions
