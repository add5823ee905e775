"""A hostile drop box: one planted file must never hang, crash or stop the appends behind it."""
from __future__ import annotations

import hashlib
import os
import subprocess

import msgspec
import pytest

from eventlog import FileEventLog, LogSettings

from conftest import run_lokilog

DEEP = b"[" * 3000 + b"]" * 3000


def _pending(loki):
    folder = loki / "events" / "pending"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _refusals(loki) -> list[dict]:
    with FileEventLog(loki, settings=LogSettings()) as log:
        return [e.payload for e in log.read(ingest=False) if e.type == "ingest"]


def _emit_and_tail(loki):
    emitted = run_lokilog("emit", "task", "-a", "start", "task_id=t1", loki=loki, timeout=20)
    assert emitted.returncode == 0, emitted.stderr
    tail = run_lokilog("tail", "-n", "1", loki=loki, timeout=20)
    assert tail.returncode == 0, tail.stderr
    return tail.stdout


@pytest.mark.parametrize("plant", ["fifo", "dev_zero", "deep", "directory"])
def test_one_planted_file_neither_hangs_nor_stops_emit_and_tail(loki, plant):
    folder = _pending(loki)
    target = folder / "2026-02-21T10-00-00.000Z_planted.json"
    if plant == "fifo":
        os.mkfifo(target)
    elif plant == "dev_zero":
        os.symlink("/dev/zero", target)
    elif plant == "deep":
        target.write_bytes(b'{"id":"a1b2c3d4","x":' + DEEP + b"}")
    else:
        target.mkdir()
    try:
        for _ in range(2):  # the second pass must not trip over it again either
            assert "task" in _emit_and_tail(loki)
    except subprocess.TimeoutExpired:
        pytest.fail(f"a planted {plant} blocked the writer")
    refused = _refusals(loki)
    assert len(refused) == 1, refused  # recorded once, not on every pass
    assert refused[0]["path"] == f"events/pending/{target.name}"
    assert "\n" not in refused[0]["reason"]
    assert os.path.lexists(target)  # not ours: never moved or deleted


def test_a_loki_mode_file_that_is_too_deep_stays_and_is_recorded_by_identity_and_digest(log, loki):
    folder = _pending(loki)
    body = b'{"id": "a1b2c3d4", "payload": ' + DEEP + b"}"
    path = folder / "2026-02-21T10-00-00.000Z_a1b2c3d4.json"
    path.write_bytes(body)
    log.append("task", "cli", {"n": 1})
    log.append("task", "cli", {"n": 2})
    (refused,) = _refusals(loki)
    st = os.stat(path)
    assert refused["sha256"] == hashlib.sha256(body).hexdigest()
    assert (refused["identity"]["ino"], refused["identity"]["size"]) == (st.st_ino, st.st_size)
    assert refused["quarantined_to"] is None and path.read_bytes() == body
    assert f"nests {len(DEEP) // 2 + 1} levels deep" in refused["reason"]


def test_an_own_drop_box_file_that_is_not_a_valid_event_moves_to_quarantine(log, loki):
    folder = _pending(loki)
    own = {"id": "0123456789abcdef0123", "type": "ta\u0001sk", "source": "cli",
           "timestamp": "2026-02-21T10:00:00.000Z", "version": "1.0", "payload": {}}
    data = msgspec.json.encode(own) + b"\n"
    path = folder / "2026-02-21T10-00-00.000Z_0123456789abcdef0123.json"
    path.write_bytes(data)
    receipt = log.append("task", "cli", {"after": True})
    assert receipt.seq is not None
    (refused,) = _refusals(loki)
    assert not path.exists()
    moved = loki / refused["quarantined_to"]
    assert moved.parent == loki / "events" / "quarantine" and moved.read_bytes() == data


def test_a_deeply_nested_payload_argument_is_a_clean_bad_input_error(loki):
    deep = '{"a":' * 3000 + "1" + "}" * 3000
    done = run_lokilog("emit", "task", "--payload", deep, loki=loki, timeout=20)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "levels deep" in done.stderr
    assert "Traceback" not in done.stderr
    pair = run_lokilog("emit", "task", "x:=" + "[" * 3000 + "]" * 3000, loki=loki, timeout=20)
    assert pair.returncode == 2 and "levels deep" in pair.stderr


def test_read_regular_refuses_what_is_not_a_regular_file(tmp_path):
    from eventlog.errors import UnsafeFileError
    from eventlog.safeio import read_regular

    os.mkfifo(tmp_path / "fifo")
    os.symlink("/dev/zero", tmp_path / "zero")
    (tmp_path / "dir").mkdir()
    (tmp_path / "big").write_bytes(b"x" * 101)
    for name, why in (("fifo", "FIFO"), ("zero", "symbolic link"), ("dir", "directory"), ("big", "more than")):
        with pytest.raises(UnsafeFileError, match=why):
            read_regular(tmp_path / name, max_bytes=100)
    with pytest.raises(FileNotFoundError):
        read_regular(tmp_path / "missing")


def test_json_depth_ignores_brackets_inside_strings():
    from eventlog.errors import UnsafeFileError
    from eventlog.safeio import MAX_JSON_DEPTH, check_json_depth, json_depth

    assert json_depth(b'{"a": "[[[[[[[[", "b": [1, {"c": "\\"[["}]}') == 3
    check_json_depth(b'["' + b"[" * 1000 + b'"]')
    with pytest.raises(UnsafeFileError, match=f"at most {MAX_JSON_DEPTH}"):
        check_json_depth(b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1))
