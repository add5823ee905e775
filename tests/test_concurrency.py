"""Many writers at once, threads and processes: dense unique seqs, no torn or interleaved lines."""
import multiprocessing
import threading

from eventlog import FileEventLog, LogSettings
from eventlog.verify import verify_log

PROCESSES = 4
PER_PROCESS = 150


def _writer(root: str, worker: int) -> None:
    with FileEventLog(root, settings=LogSettings(lock_timeout=30)) as log:
        for i in range(PER_PROCESS):
            if i % 10 == 0:
                log.append_many([{"type": "batch", "source": f"w{worker}", "payload": {"i": i, "j": j}} for j in range(3)])
            else:
                log.append("task", f"w{worker}", {"i": i, "pad": "x" * (i * 7)})


def test_processes_and_threads_append_dense_unique_whole_lines(loki):
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(loki), w)) for w in range(PROCESSES)]
    threads = [threading.Thread(target=_writer, args=(str(loki), 100 + t)) for t in range(2)]
    for worker in procs + threads:
        worker.start()
    for worker in procs + threads:
        worker.join(timeout=120)
    assert all(p.exitcode == 0 for p in procs)

    writers = PROCESSES + 2
    per_writer = PER_PROCESS - PER_PROCESS // 10 + (PER_PROCESS // 10) * 3
    with FileEventLog(loki) as log:
        events = list(log.read())
    assert [e.seq for e in events] == list(range(1, writers * per_writer + 1))
    assert len({e.id for e in events}) == len(events)
    by_writer = {}
    for event in events:
        by_writer.setdefault(event.source, []).append(event.payload["i"])
    assert all(order == sorted(order) for order in by_writer.values())  # each writer's order kept
    assert verify_log(log.paths).ok


def test_threads_sharing_one_log_object(loki):
    with FileEventLog(loki) as log:
        def work():
            for i in range(100):
                log.append("t", "s", {"i": i}, durability="never")
        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert [e.seq for e in log.read()] == list(range(1, 401))
