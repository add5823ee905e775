"""Syslog forwarding against real UDP and TCP listeners on 127.0.0.1: RFC 5424, at least once, fail open."""
from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time

import pytest
from conftest import subprocess_env

from eventlog import FileEventLog, InvalidEventError, NewEvent
from projections.audit import AuditSettings
from projections.audit.files import audit_dir, chain_files, iter_lines
from projections.audit.writer import sync_chain
from subscribers.cursor import Cursor
from subscribers.registry import enabled_subscribers
from subscribers.syslog import NAME, SyslogForwarder, SyslogSettings, forward

# RFC 5424: <PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD [SP MSG]
RFC5424 = re.compile(rb'^<(\d{1,3})>1 (\S+) (\S+) lokilog (\d+) audit (\[lokilog@32473 seq="(\d+)" '
                     rb'eventId="([^"]*)" hash="(sha256:[0-9a-f]{64})"\]) \xef\xbb\xbf(\{.*\})$', re.DOTALL)


def fill(loki, n=5):
    with FileEventLog(loki) as log:
        log.append_many([NewEvent(type="task", source="runner", payload={"action": "created", "task_id": f"t{i}"})
                         for i in range(n)])
    sync_chain(loki, AuditSettings())


def chain(loki):
    return list(iter_lines(chain_files(audit_dir(loki))))


def check_message(message: bytes, line: bytes, seq: int) -> None:
    match = RFC5424.match(message)
    assert match, message[:200]
    assert int(match.group(1)) == 13 * 8 + 6 and int(match.group(6)) == seq
    assert match.group(9) == line and json.loads(match.group(9))["hash"] == match.group(8).decode()


@pytest.fixture
def udp_listener():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    yield sock
    sock.close()


@pytest.fixture
def tcp_listener():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.settimeout(5)
    yield sock
    sock.close()


def read_frames(listener: socket.socket, count: int) -> list[bytes]:
    """Accept connections and read RFC 6587 octet-counted frames until ``count`` arrived (bounded)."""
    frames, deadline = [], time.monotonic() + 10
    while len(frames) < count and time.monotonic() < deadline:
        conn, _ = listener.accept()
        conn.settimeout(5)
        buffer = b""
        with conn:
            while chunk := conn.recv(65536):
                buffer += chunk
        while buffer:
            length, _, rest = buffer.partition(b" ")
            frames.append(rest[: int(length)])
            buffer = rest[int(length):]
    return frames


def test_udp_messages_are_rfc5424_and_carry_each_entry(loki, udp_listener):
    fill(loki)
    settings = SyslogSettings("127.0.0.1", udp_listener.getsockname()[1], "udp")
    report = forward(loki, settings, AuditSettings())
    assert (report.sent, report.error) == (5, None)
    lines = chain(loki)
    for seq, line in enumerate(lines, 1):
        check_message(udp_listener.recv(70000), line, seq)
    assert Cursor(loki, NAME).seq == 5
    assert forward(loki, settings, AuditSettings()).sent == 0  # the cursor holds: nothing twice


def test_tcp_messages_are_octet_counted(loki, tcp_listener):
    fill(loki, 7)
    settings = SyslogSettings("127.0.0.1", tcp_listener.getsockname()[1], "tcp")
    assert forward(loki, settings, AuditSettings()).sent == 7
    frames = read_frames(tcp_listener, 7)
    for seq, (frame, line) in enumerate(zip(frames, chain(loki)), 1):
        check_message(frame, line, seq)


def test_a_dead_server_never_blocks_and_the_next_run_catches_up(loki):
    fill(loki, 4)
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens on this port now
    settings = SyslogSettings("127.0.0.1", port, "tcp", timeout=1)
    started = time.monotonic()
    report = forward(loki, settings, AuditSettings())
    assert report.sent == 0 and "127.0.0.1" in report.error and time.monotonic() - started < 5
    assert Cursor(loki, NAME).seq == 0
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(8)
        listener.settimeout(5)
        assert forward(loki, settings, AuditSettings()).sent == 4
        assert len(read_frames(listener, 4)) == 4
    assert Cursor(loki, NAME).seq == 4


def test_events_not_yet_in_the_chain_wait_for_it(loki, udp_listener):
    fill(loki, 2)
    with FileEventLog(loki) as log:
        log.append(type="task", source="runner", payload={"action": "late"})
    settings = SyslogSettings("127.0.0.1", udp_listener.getsockname()[1], "udp")
    report = forward(loki, settings, AuditSettings())
    assert report.sent == 2 and "no entry for seq 3" in report.error and Cursor(loki, NAME).seq == 2
    sync_chain(loki, AuditSettings())
    assert forward(loki, settings, AuditSettings()).sent == 1
    seqs = [int(RFC5424.match(udp_listener.recv(70000)).group(6)) for _ in range(3)]
    assert seqs == [1, 2, 3]


def test_settings_come_from_the_environment_and_are_validated(loki):
    assert SyslogSettings.from_env({}) is None and enabled_subscribers(loki, {}) == []
    env = {"LOKI_AUDIT_SYSLOG_HOST": "127.0.0.1", "LOKI_AUDIT_SYSLOG_PORT": "5514", "LOKI_AUDIT_SYSLOG_PROTO": "tcp"}
    assert SyslogSettings.from_env(env) == SyslogSettings("127.0.0.1", 5514, "tcp")
    [subscriber] = enabled_subscribers(loki, env)
    assert isinstance(subscriber, SyslogForwarder) and subscriber.name == NAME
    with pytest.raises(InvalidEventError, match="udp or tcp"):
        SyslogSettings.from_env({**env, "LOKI_AUDIT_SYSLOG_PROTO": "http"})
    with pytest.raises(InvalidEventError, match="not a port"):
        SyslogSettings.from_env({**env, "LOKI_AUDIT_SYSLOG_PORT": "99999"})


def test_nothing_is_imported_when_the_variables_are_unset(tmp_path):
    code = ("import sys; from commands.cli import app; from subscribers.registry import enabled_subscribers;"
            "assert enabled_subscribers(sys.argv[1]) == [];"
            "print(sorted(m for m in sys.modules if m.startswith(('subscribers.syslog', 'projections.audit'))))")
    env = subprocess_env()
    for name in [k for k in env if k.startswith("LOKI_AUDIT")]:
        del env[name]
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_forward_command_sends_once(loki, udp_listener):
    from conftest import run_lokilog

    fill(loki, 3)
    port = str(udp_listener.getsockname()[1])
    out = run_lokilog("audit", "forward", "--json", loki=loki, LOKI_AUDIT_SYSLOG_HOST="127.0.0.1", LOKI_AUDIT_SYSLOG_PORT=port)
    assert out.returncode == 0 and json.loads(out.stdout) == {"sent": 3, "error": None}
    assert [RFC5424.match(udp_listener.recv(70000)).group(6) for _ in range(3)] == [b"1", b"2", b"3"]
    again = run_lokilog("audit", "forward", loki=loki, LOKI_AUDIT_SYSLOG_HOST="127.0.0.1", LOKI_AUDIT_SYSLOG_PORT=port)
    assert again.stdout.startswith("sent 0 entries")


def test_message_timestamps_are_normalised_for_rfc5424():
    from eventlog import Event
    from projections.audit.entry import GENESIS, entry_line
    from subscribers.syslog import format_message

    event = Event(seq=1, id="x]y", type="task", source="runner", timestamp="2026-02-21T11:00:00.123456789+01:00",
                  version="1.0", payload={})
    message = format_message(entry_line(event, GENESIS)[0][:-1], "host name")
    assert message.startswith(b'<110>1 2026-02-21T10:00:00.123Z hostname lokilog ')
    assert b'eventId="x\\]y"' in message
