"""Several bridges with a backlog on one `sync_interval: always` server: slow acks are not a failure.

The server's storing rate is shared by every bridge of the stream. With three full windows
queued (3 x 8000 publishes) a bridge can wait longer than its per-window bound for its first
ack while the server, alive and answering pings, is still storing. Treating that as a failure
made each bridge reconnect and re-send its window on top of the one still queued, which kept
a bridge of the long kill loop thousands of events behind for a minute. A paused server (no
answer to a ping) must still fail the wait: tests/test_nats_bridge.py covers that.
"""
from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("nats")

from eventlog import FileEventLog  # noqa: E402
from subscribers.nats.push import Bridge  # noqa: E402
from tests.nats_helpers import assert_exactly_once, make_log, nats_server  # noqa: E402,F401 (a fixture)

EVENTS = 12_000


def test_three_backlogged_bridges_on_one_server_each_finish_in_one_session(nats_server, tmp_path):
    dirs = [tmp_path / f"m{i}" / ".loki" for i in range(3)]
    for i, root in enumerate(dirs):
        make_log(root, EVENTS, f"t{i}")
    bridges = [Bridge(root, nats_server.url) for root in dirs]

    async def together():
        # One session each, no retry loop: a wait that gives up while the server is merely
        # busy raises here.
        return await asyncio.gather(*(b.run_once() for b in bridges), return_exceptions=True)

    outcomes = asyncio.run(asyncio.wait_for(together(), 100))
    assert outcomes == [EVENTS] * 3, outcomes
    assert [b.load_cursor().seq for b in bridges] == [FileEventLog(d).head_seq for d in dirs]
    assert_exactly_once(nats_server.url, dirs)
