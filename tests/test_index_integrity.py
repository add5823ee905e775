"""The index is a cache: a wrong row never drops an event, an unreadable one is never "nothing seen",
and a `#` or `?` in the project path opens the right file."""
from __future__ import annotations

import sqlite3

from eventlog import FileEventLog
from eventlog.verify import high_water_mark, verify_log
from tests.conftest import run_lokilog


def _ids(loki) -> list[str]:
    with FileEventLog(loki) as log:
        return [e.id for e in log.read(ingest=False)]


def test_a_wrong_index_row_never_turns_an_append_into_already_stored(loki):
    for n in (1, 2):
        assert run_lokilog("emit", "task", "--id", f"build-{n}", loki=loki).returncode == 0
    db = sqlite3.connect(loki / "events" / "index.sqlite")
    db.execute("INSERT OR REPLACE INTO ids VALUES ('build-3', 1)")  # seq 1 is build-1
    db.commit()
    db.close()
    done = run_lokilog("emit", "task", "--id", "build-3", loki=loki)
    assert done.returncode == 0, done.stderr
    assert "already stored" not in done.stdout + done.stderr
    assert _ids(loki) == ["build-1", "build-2", "build-3"]
    again = run_lokilog("emit", "task", "--id", "build-3", loki=loki)  # the rebuilt index is right
    assert again.returncode == 0 and _ids(loki) == ["build-1", "build-2", "build-3"]


def test_a_hash_or_question_mark_in_the_path_opens_the_right_index(tmp_path):
    loki = tmp_path / "proj#1?x=y" / ".loki"
    with FileEventLog(loki) as log:
        for n in range(4):
            log.append("task", "py", {"n": n}, id=f"e-{n}")
    (loki / "events" / "log.tail").unlink(missing_ok=True)  # only the index remembers seq 4 now
    assert high_water_mark(FileEventLog(loki).paths) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["proj#1?x=y"]  # no stray file beside it


def test_an_unreadable_index_is_reported_by_verify(loki):
    with FileEventLog(loki) as log:
        log.append("task", "py", id="e-1")
    index = loki / "events" / "index.sqlite"
    for extra in ("-wal", "-shm"):
        (loki / "events" / f"index.sqlite{extra}").unlink(missing_ok=True)
    index.write_bytes(b"this is not a database" * 100)
    report = verify_log(FileEventLog(loki).paths)
    assert [f.kind for f in report.findings] == ["index_unreadable"]


def test_verify_fix_rebuilds_an_unreadable_index(loki, cli):
    with FileEventLog(loki) as log:
        log.append("task", "py", id="e-1")
    for extra in ("-wal", "-shm"):
        (loki / "events" / f"index.sqlite{extra}").unlink(missing_ok=True)
    (loki / "events" / "index.sqlite").write_bytes(b"garbage" * 300)
    assert cli("verify", "--fix").exit_code == 0
    with FileEventLog(loki) as log:
        assert log.append("task", "py", id="e-1").status == "duplicate"
