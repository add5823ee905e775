"""append_many's fast path for plain type/source/payload mappings stores what the general path would."""
from __future__ import annotations

import pytest

from eventlog import FileEventLog, InvalidEventError, NewEvent


def test_a_plain_batch_is_stored_like_the_same_drafts_on_the_general_path(loki):
    drafts = [{"type": "task", "source": "runner", "payload": {"n": n}} for n in range(5)] + [
        {"type": "other", "source": "bridge"}]
    with FileEventLog(loki) as log:
        fast = log.append_many(drafts)
        general = log.append_many([NewEvent(**d) for d in drafts])
        events = list(log.read())
    assert [r.seq for r in fast + general] == list(range(1, 13))
    assert len({r.id for r in fast + general}) == 12
    assert [(e.type, e.source, e.payload) for e in events[:6]] == [(e.type, e.source, e.payload) for e in events[6:]]
    assert events[5].payload == {}
    assert [e.id for e in events[:6]] == [r.id for r in fast]


@pytest.mark.parametrize("bad", [
    {"type": "task", "source": "runner", "payload": None},
    {"type": "task", "source": "runner", "payload": [1]},
    {"type": "", "source": "runner"},
    {"type": "task"},
])
def test_one_invalid_plain_draft_stores_nothing(loki, bad):
    with FileEventLog(loki) as log:
        with pytest.raises(InvalidEventError):
            log.append_many([{"type": "task", "source": "runner", "payload": {}}, bad])
        assert log.head_seq == 0
