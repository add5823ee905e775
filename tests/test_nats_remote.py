"""Remote appends with expected_version map to Nats-Expected-Last-Subject-Sequence (real nats-server)."""
from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("nats")

from eventlog import FileEventLog, InvalidEventError, NewEvent, SequenceConflictError  # noqa: E402
from subscribers.nats.jetstream import connect, ensure_stream  # noqa: E402
from subscribers.nats.pull import mirror  # noqa: E402
from subscribers.nats.remote import append_remote, append_to, remote_version  # noqa: E402
from tests.nats_helpers import bridge_once, nats_server  # noqa: E402,F401 (a fixture)


def draft(task: str, expected: int | None = None, **kw) -> NewEvent:
    return NewEvent(type="task", source="api", stream=f"task-{task}", expected_version=expected,
                    payload={"action": "start", "task_id": task}, **kw)


async def session(url: str, body):
    nc = await connect(url)
    try:
        js = nc.jetstream(timeout=5.0)
        await ensure_stream(js, "LOKI")
        return await asyncio.wait_for(body(js), 30)
    finally:
        await nc.close()


def test_expected_version_is_the_subjects_last_stream_seq_and_a_conflict_is_refused(nats_server, tmp_path):
    async def body(js):
        assert await remote_version(js, "LOKI", "web", "task-1") == 0
        first = await append_remote(js, draft("1", expected=0), project="web")
        assert await remote_version(js, "LOKI", "web", "task-1") == first.stream_seq
        with pytest.raises(SequenceConflictError, match=rf"is at version {first.stream_seq}, not the expected 0"):
            await append_remote(js, draft("1", expected=0), project="web")
        other = await append_remote(js, draft("2", expected=0), project="web")  # another subject: its own version
        second = await append_remote(js, draft("1", expected=first.stream_seq), project="web")
        assert second.stream_seq > other.stream_seq > first.stream_seq
        # A retry of the same id inside the dedup window is the same event, not a second one.
        again = await append_remote(js, draft("1", id=second.id), project="web")
        assert (again.duplicate, again.stream_seq) == (True, second.stream_seq)
        return second.stream_seq
    version = asyncio.run(session(nats_server.url, body))

    # A bridged local event on the same subject moves the version too.
    root = tmp_path / "web" / ".loki"
    FileEventLog(root).append(type="task", source="runner", stream="task-1", payload={"action": "complete",
                                                                                       "task_id": "1"})
    bridge_once(root, nats_server.url)
    with pytest.raises(SequenceConflictError):
        asyncio.run(append_to_expecting(nats_server.url, version))


async def append_to_expecting(url: str, version: int):
    return await session(url, lambda js: append_remote(js, draft("1", expected=version), project="web"))


def test_racing_conditional_appends_let_exactly_one_through(nats_server, tmp_path):
    async def body(js):
        results = await asyncio.gather(*(append_remote(js, draft("r", expected=0), project="p") for _ in range(20)),
                                       return_exceptions=True)
        return [r for r in results if not isinstance(r, SequenceConflictError)]
    winners = asyncio.run(session(nats_server.url, body))
    assert len(winners) == 1 and not isinstance(winners[0], BaseException)
    # The remote event reaches a view like any bridged one.
    receipt = asyncio.run(append_to(nats_server.url, draft("s"), project="p"))
    view = tmp_path / "view"
    assert asyncio.run(mirror(view, nats_server.url, "LOKI")) == 2
    mirrored = list(FileEventLog(view).read(ingest=False))
    assert mirrored[-1].id == receipt.id and mirrored[-1].extra["loki_origin"]["id"] == "remote"


def test_a_bad_event_is_refused_before_anything_is_sent(nats_server):
    with pytest.raises(InvalidEventError, match="expected_version needs a stream"):
        asyncio.run(append_to(nats_server.url, NewEvent(type="task", source="api", expected_version=0), project="p"))
