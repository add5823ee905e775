"""Two views of one log behave as the library's in-memory recorder does, whatever the interleaving.

Each step inserts a batch (originator, version) through one of two datastores on the same
`.loki/` (as two processes would), or with a tracking record; the outcome (stored or
IntegrityError) and everything selected afterwards must equal `eventsourcing.popo`'s for the same
steps. The second view is often behind: the log's conditional batch is what keeps it honest.
"""
from __future__ import annotations

import itertools
import tempfile

from eventsourcing.persistence import IntegrityError, StoredEvent, Tracking
from eventsourcing.popo import POPOProcessRecorder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import SCRATCH
from eventlog.config import Durability, LogSettings
from eventlog.integrations.eventsourcing.datastore import LokiDatastore
from eventlog.integrations.eventsourcing.recorders import LokiProcessRecorder

ORIGINATORS = ["a", "b", "c"]
batch = st.lists(st.tuples(st.sampled_from(ORIGINATORS), st.integers(0, 4)), min_size=0, max_size=3)
step = st.tuples(st.integers(0, 1), batch, st.none() | st.integers(1, 6))


def outcome(recorder, events, tracking) -> str:
    try:
        recorder.insert_events(events, tracking=tracking)
    except IntegrityError:
        return "conflict"
    return "stored"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(step, min_size=1, max_size=12))
def test_two_views_of_one_log_agree_with_the_in_memory_recorder(steps):
    SCRATCH.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=SCRATCH) as directory:
        quick = LogSettings(durability=Durability.NEVER)  # fsync is not what this checks
        stores = [LokiDatastore(f"{directory}/.loki", settings=quick) for _ in range(2)]
        try:
            ours = [LokiProcessRecorder(store, "App") for store in stores]
            model = POPOProcessRecorder()
            counter = itertools.count()
            for which, pairs, position in steps:
                events = [StoredEvent(o, v, "topic", b"%d" % next(counter)) for o, v in pairs]
                tracking = None if position is None else Tracking("Up", position)
                expected = outcome(model, events, tracking)
                assert outcome(ours[which], events, tracking) == expected, (which, pairs, position)
            for recorder in ours:
                for originator in ORIGINATORS:
                    # In version order, as eventsourcing.sqlite selects (popo keeps insertion order).
                    in_order = sorted(model.select_events(originator), key=lambda e: e.originator_version)
                    assert recorder.select_events(originator) == in_order
                assert recorder.max_tracking_id("Up") == model.max_tracking_id("Up")
                assert [(n.originator_id, n.originator_version, n.state) for n in recorder.select_notifications(None, 100)] \
                    == [(n.originator_id, n.originator_version, n.state) for n in model.select_notifications(None, 100)]
        finally:
            for store in stores:
                store.close()


def test_concurrent_inserts_committed_together_keep_each_batch_all_or_nothing(tmp_path):
    """Threads racing on one originator (batches queued together and committed in one append):
    exactly one batch wins, the others get IntegrityError and store nothing, and a batch of
    unrelated events queued beside a refused one is stored."""
    import threading
    from uuid import uuid4

    store = LokiDatastore(tmp_path / ".loki", settings=LogSettings())
    try:
        recorder = LokiProcessRecorder(store, "App")
        barrier = threading.Barrier(8, timeout=30)
        outcomes: list[str] = []
        mine = [uuid4() for _ in range(8)]

        def race(number: int) -> None:
            barrier.wait()
            contested = [StoredEvent("shared", v, "topic", b"%d" % number) for v in (1, 2, 3)]
            outcomes.append(outcome(recorder, contested, None))
            outcomes.append("own " + outcome(recorder, [StoredEvent(mine[number], 1, "topic", b"")], None))

        threads = [threading.Thread(target=race, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(outcomes) == ["conflict"] * 7 + ["own stored"] * 8 + ["stored"]
        shared = recorder.select_events("shared")
        assert [e.originator_version for e in shared] == [1, 2, 3]
        assert len({e.state for e in shared}) == 1, "the winning batch is stored whole, nothing of the others"
        assert all(len(recorder.select_events(oid)) == 1 for oid in mine)
        ids = [n.id for n in recorder.select_notifications(None, 100)]
        assert ids == list(range(1, 12)), "notification ids dense: only our events in this log"
    finally:
        store.close()
