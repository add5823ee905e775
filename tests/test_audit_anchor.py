"""`lokilog audit anchor` and `audit verify --witness`: a file, a real HTTP server and a real git repository.

The attack each test ends with is the one a witness exists for: the log is rewritten (one
event's actor changed) and the audit chain recomputed from it end to end, so `audit verify`
alone finds nothing wrong.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import run_lokilog
from eventlog import FileEventLog


class WitnessServer:
    """An HTTP witness on 127.0.0.1: POST stores an anchor, GET ?project= lists them."""

    def __init__(self, serve_reads: bool = True) -> None:
        self.anchors: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.anchors.append(body)
                self._send(201, {"id": len(outer.anchors)})

            def do_GET(self) -> None:
                if not serve_reads:
                    self._send(404, {})
                    return
                project = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query).get("project", [""])[0]
                self._send(200, [a for a in outer.anchors if a.get("project") == project])

            def _send(self, status: int, body) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/anchors"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05})
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def loki(tmp_path: Path) -> Path:
    """The project's `.loki/`, with room beside the project for witnesses (which must be outside it)."""
    return tmp_path / "project" / ".loki"


@pytest.fixture
def http_witness():
    server = WitnessServer()
    yield server
    server.stop()


def seed(loki: Path, n: int = 5) -> None:
    with FileEventLog(loki) as log:
        for i in range(n):
            log.append("task", "runner", {"action": "completed", "task_id": f"t{i}"})


def lokilog(loki: Path, *args: str, **env: str):
    return run_lokilog(*args, loki=loki, timeout=60, **env)


def rewrite_history(loki: Path, drop_receipts: bool = False) -> None:
    """Replay the log into a new one with event 2's actor changed, and recompute the chain from it."""
    scratch = loki.parent / "rewritten" / ".loki"
    with FileEventLog(loki) as old, FileEventLog(scratch) as new:
        for event in old.read():
            if drop_receipts and event.type == "audit":
                continue
            source = "mallory" if event.seq == 2 else event.source
            new.append(event.type, source, event.payload, id=event.id, timestamp=event.timestamp, stream=event.stream)
    for name in ("events", "projections", "lokilog"):
        shutil.rmtree(loki / name, ignore_errors=True)
    shutil.copytree(scratch / "events", loki / "events")
    assert lokilog(loki, "audit", "sync").returncode == 0
    plain = lokilog(loki, "audit", "verify")
    assert plain.returncode == 0, plain.stdout + plain.stderr  # the rewrite is invisible without a witness


def verify_witness(loki: Path, **env: str) -> tuple[int, dict]:
    done = lokilog(loki, "audit", "verify", "--witness", "--json", **env)
    return done.returncode, json.loads(done.stdout)["witness"]


def test_a_file_witness_catches_a_chain_recomputed_end_to_end(tmp_path: Path, loki: Path):
    seed(loki)
    witness = tmp_path / "elsewhere" / "anchors.jsonl"
    first = lokilog(loki, "audit", "anchor", "--to", str(witness))
    assert first.returncode == 0 and "anchored" in first.stdout, first.stdout + first.stderr
    seed(loki, 2)
    assert lokilog(loki, "audit", "anchor", "--to", f"file:{witness}", "--json").returncode == 0
    assert len(witness.read_text().splitlines()) == 2
    code, found = verify_witness(loki)
    assert (code, found["valid"], found["receipts"], found["witnesses"]) == (0, True, 2, {f"file:{witness}": 2})
    rewrite_history(loki)
    code, found = verify_witness(loki)
    assert code == 1 and not found["valid"]
    assert any("was rewritten" in p and "the witness was given" in p for p in found["problems"])


def test_receipts_removed_with_the_rewrite_are_still_caught_by_the_witness(tmp_path: Path, loki: Path):
    seed(loki)
    witness = tmp_path / "elsewhere" / "anchors.jsonl"
    assert lokilog(loki, "audit", "anchor", "--to", str(witness)).returncode == 0
    rewrite_history(loki, drop_receipts=True)
    code, found = verify_witness(loki, LOKI_AUDIT_WITNESS=str(witness))
    assert code == 1 and found["receipts"] == 0
    assert any("no receipt in the log" in p for p in found["problems"])
    assert any("the witness was given" in p for p in found["problems"])


def test_an_http_witness_on_a_real_server(loki: Path, http_witness: WitnessServer):
    seed(loki)
    done = lokilog(loki, "audit", "anchor", "--json", LOKI_AUDIT_WITNESS=http_witness.url)
    assert done.returncode == 0, done.stderr
    (receipt,) = json.loads(done.stdout)
    assert receipt["receipt"]["status"] == 201 and receipt["receipt"]["id"] == 1
    assert http_witness.anchors[0]["hash"] == receipt["hash"]
    assert verify_witness(loki)[0] == 0
    rewrite_history(loki)
    code, found = verify_witness(loki)
    assert code == 1 and found["witnesses"] == {http_witness.url: 1}


def test_a_git_witness_keeps_anchors_as_commits_on_a_ref(tmp_path: Path, loki: Path):
    repo = tmp_path / "anchors.git"
    subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True, timeout=30)
    seed(loki)
    for _ in range(2):
        assert lokilog(loki, "audit", "anchor", "--to", f"git:{repo}").returncode == 0
        seed(loki, 1)
    log = subprocess.run(["git", "-C", str(repo), "log", "--format=%s", "refs/lokilog/audit-anchors"],
                         capture_output=True, text=True, check=True, timeout=30).stdout.splitlines()
    assert len(log) == 2 and all(json.loads(line)["format"] == "lokilog-audit-anchor/1" for line in log)
    assert verify_witness(loki)[0] == 0
    rewrite_history(loki)
    assert verify_witness(loki)[0] == 1


def test_an_unreachable_witness_is_recorded_and_fails_the_command(loki: Path):
    seed(loki)
    gone = WitnessServer()
    url = gone.url
    gone.stop()  # its port is closed now: connection refused
    done = lokilog(loki, "audit", "anchor", "--to", url)
    assert done.returncode == 1 and "FAILED" in done.stdout
    with FileEventLog(loki) as log:
        assert [e.payload["action"] for e in log.read() if e.type == "audit"] == ["anchor_failed"]


def test_an_http_witness_that_does_not_serve_its_anchors_is_checked_through_the_receipts(loki: Path):
    server = WitnessServer(serve_reads=False)
    try:
        seed(loki)
        assert lokilog(loki, "audit", "anchor", "--to", server.url).returncode == 0
        code, found = verify_witness(loki)
        assert (code, found["witnesses"]) == (0, {server.url: None})
        rewrite_history(loki)
        assert verify_witness(loki)[0] == 1
    finally:
        server.stop()


@pytest.mark.parametrize("bad, message", [
    (None, "no witness"), ("relative/path.jsonl", "absolute path"), ("{loki}/anchors.jsonl", "inside the project"),
    ("git:/tmp/x#heads/main", "must start with refs/"),
])
def test_bad_witnesses_are_refused_with_a_clear_message(loki: Path, bad, message):
    seed(loki)
    args = ["audit", "anchor"] + ([] if bad is None else ["--to", bad.replace("{loki}", str(loki))])
    done = lokilog(loki, *args)
    assert done.returncode == 2 and message in done.stderr, done.stderr
