"""The live tail in-process: one poller fans events out; a client too far behind is cut off, never fed gaps."""
from __future__ import annotations

import asyncio

from eventlog import EventFilter
from commands.serve.tail import Tail


def test_the_poller_delivers_new_events_in_order_to_every_subscriber(log):
    log.append("task", "runner", {"n": 0})

    async def scenario():
        tail = Tail(log.paths.root, interval=0.002)
        subs = [tail.subscribe(EventFilter()) for _ in range(3)]
        stop = asyncio.Event()
        poller = asyncio.create_task(tail.run(stop))
        await asyncio.to_thread(lambda: [log.append("task", "runner", {"n": i}) for i in range(1, 51)])
        got = [[] for _ in subs]
        for sub, seen in zip(subs, got):
            while len(seen) < 50:
                seq, event, data = await asyncio.wait_for(sub.queue.get(), 5)
                seen.append(seq)
        for _ in range(500):  # the index keeper runs about once a second: bounded wait
            if tail.indexed == 51:
                break
            await asyncio.sleep(0.01)
        stop.set()
        await poller
        tail.close()
        return tail, got

    tail, got = asyncio.run(scenario())
    assert all(seen == list(range(2, 52)) for seen in got)
    assert tail.position == 51 and tail.indexed == 51


def test_a_subscriber_that_falls_behind_gets_an_end_marker_and_nothing_after(log):
    log.append("task", "runner", {})

    async def scenario():
        tail = Tail(log.paths.root, queue_size=3)
        sub = tail.subscribe(EventFilter())
        event = next(iter(log.read()))
        for seq in range(1, 8):
            sub.offer((seq, event, "{}"))
        drained = []
        while not sub.queue.empty():
            drained.append(sub.queue.get_nowait())
        tail.close()
        return sub, drained

    sub, drained = asyncio.run(scenario())
    assert sub.overflowed and drained[-1] is None
    seqs = [item[0] for item in drained[:-1]]
    assert seqs == [1, 2, 3]  # a gapless prefix: the client resumes after its last seq
