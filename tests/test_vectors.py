"""The shared test vectors: the Python, bash and TypeScript writers all produce the expected bytes."""
from __future__ import annotations

import json

import pytest

from eventlog import FileEventLog, LogSettings
from eventlog.codec import add_checksums
from tests.clients import VECTORS, bash_args, bash_emit, log_lines, node_emit, pending_files, to_ts_event

NAMES = [v["name"] for v in VECTORS]


def _checksummed(line: str) -> bytes:
    # Python writers end each line with its crc member; the bash emitter cannot compute one.
    return add_checksums(line.encode())


def _pending_form(line: str) -> bytes:
    # A drop-box file holds the log line without its seq.
    return ("{" + line[line.index(",") + 1 :]).encode()


@pytest.mark.parametrize("vector", VECTORS, ids=NAMES)
def test_python_writer(vector, loki):
    event = dict(vector["event"])
    with FileEventLog(loki, settings=LogSettings()) as log:
        log.append(event.pop("type"), event.pop("source"), event.pop("payload"), **event)
    assert log_lines(loki) == [_checksummed(vector["line"])]


@pytest.mark.parametrize("vector", VECTORS, ids=NAMES)
def test_bash_writer_direct(vector, loki):
    # Without --id the bash client appends to the log itself: same bytes, its own id.
    event = {k: v for k, v in vector["event"].items() if k != "id"}
    done = bash_emit(*bash_args(event), loki=loki)
    assert done.returncode == 0, done.stderr
    new_id = done.stdout.decode().strip()
    assert log_lines(loki) == [vector["line"].replace(vector["event"]["id"], new_id).encode()]


@pytest.mark.parametrize("vector", VECTORS, ids=NAMES)
def test_bash_writer_drop_box(vector, loki):
    # With --id it drops a file (deduplication needs the index); Python ingests it.
    done = bash_emit(*bash_args(vector["event"]), loki=loki)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode() == vector["event"]["id"] + "\n"
    [file] = pending_files(loki)
    assert file.read_bytes() == _pending_form(vector["line"])
    with FileEventLog(loki, settings=LogSettings()) as log:
        assert log.ingest_pending().ingested == 1
    assert log_lines(loki) == [_checksummed(vector["line"])]


def test_typescript_writer(loki):
    for vector in VECTORS:
        root = loki / vector["event"]["id"]
        assert node_emit([to_ts_event(vector["event"])], root) == [vector["event"]["id"]]
        [file] = pending_files(root)
        assert file.read_bytes() == _pending_form(vector["line"]), vector["name"]
        with FileEventLog(root, settings=LogSettings()) as log:
            assert log.ingest_pending().ingested == 1
            [event] = list(log.read())
        assert log_lines(root) == [_checksummed(vector["line"])]
        assert event.payload == vector["event"]["payload"]


def test_vectors_decode_to_their_events():
    for vector in VECTORS:
        decoded = json.loads(vector["line"])
        assert decoded.pop("seq") == 1 and decoded.pop("version") == "1.0"
        assert decoded == vector["event"]
