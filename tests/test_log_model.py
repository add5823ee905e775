"""The file log behaves like the in-memory model, through appends, reopenings and torn writes."""
import shutil
import tempfile
from pathlib import Path

from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from eventlog import (
    DuplicateIdError, FileEventLog, LogSettings, MemoryEventLog, NewEvent, SequenceConflictError,
)
from eventlog.verify import verify_log
from strategies import payloads

small_ids = st.sampled_from(["a", "b", "c", "d"])
streams = st.sampled_from([None, "s1", "s2"])


class FileLogMatchesModel(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.dir = Path(tempfile.mkdtemp())
        self.settings = LogSettings(segment_max_bytes=700, durability="never")
        self.file = FileEventLog(self.dir, settings=self.settings)
        self.model = MemoryEventLog()

    def _both(self, call):
        outcomes = []
        for store in (self.file, self.model):
            try:
                outcomes.append(("ok", [(r.seq, r.status) for r in call(store)]))
            except (DuplicateIdError, SequenceConflictError) as exc:
                outcomes.append(("error", type(exc).__name__))
        assert outcomes[0] == outcomes[1]

    @rule(payload=payloads, event_id=st.one_of(st.none(), small_ids), stream=streams)
    def append(self, payload, event_id, stream):
        self._both(lambda s: [s.append("t", "src", payload, id=event_id, stream=stream)])

    @rule(stream=st.sampled_from(["s1", "s2"]), expected=st.integers(0, 4))
    def append_expecting(self, stream, expected):
        self._both(lambda s: [s.append("t", "src", stream=stream, expected_version=expected)])

    @rule(batch=st.lists(st.tuples(st.one_of(st.none(), small_ids), streams), max_size=4))
    def append_many(self, batch):
        drafts = [NewEvent(type="b", source="src", id=i, stream=s) for i, s in batch]
        self._both(lambda s: s.append_many(drafts))

    @rule()
    def reopen(self):
        self.file.close()
        self.file = FileEventLog(self.dir, settings=self.settings)

    @precondition(lambda self: self.model.head_seq > 0)
    @rule(fraction=st.floats(0, 0.99), garbage=st.sampled_from([b"", b"\0" * 30, b"\xff\xfe"]))
    def crash_mid_write(self, fraction, garbage):
        # kill -9 in the middle of an append: part of a line (never acknowledged) is left behind.
        self.file.close()
        active = sorted((self.dir / "events" / "log").iterdir(), key=lambda p: p.name)
        line = b'{"seq":%d,"id":"torn","type":"t","source":"x","timestamp":"x","version":"1.0","payload":{}}\n' % (
            self.model.head_seq + 1)
        with open(active[-1], "ab") as handle:
            handle.write(line[: int(len(line) * fraction)] + garbage)
        self.file = FileEventLog(self.dir, settings=self.settings)
        self.file.recover()

    @invariant()
    def same_events(self):
        assert [_comparable(e) for e in self.file.read(ingest=False)] == [_comparable(e) for e in self.model.read()]

    def teardown(self):
        self.file.close()
        assert verify_log(self.file.paths).ok
        shutil.rmtree(self.dir)


def _comparable(event):
    # Ids the stores minted themselves differ by design; chosen ids must match.
    return event.seq, event.id if len(event.id) < 32 else "minted", event.stream, event.payload


TestFileLogMatchesModel = FileLogMatchesModel.TestCase
TestFileLogMatchesModel.settings = settings(max_examples=40, stateful_step_count=25, deadline=None)
