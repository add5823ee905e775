"""Syslog forwarding never cuts an entry silently, and never waits unbounded on a name lookup."""
from __future__ import annotations

import re
import socket
import time

import pytest

from eventlog import FileEventLog, NewEvent
from projections.audit import AuditSettings
from projections.audit.writer import sync_chain
from subscribers.cursor import Cursor
from subscribers.syslog import MAX_UDP_MESSAGE, NAME, SyslogSettings, forward

from test_audit_syslog import chain, check_message, read_frames, tcp_listener, udp_listener  # noqa: F401 (fixtures)

ANCHOR = re.compile(rb'^<110>1 \S+ \S+ lokilog \d+ audit \[lokilog@32473 seq="(\d+)" eventId="([^"]*)" '
                    rb'hash="(sha256:[0-9a-f]{64})" size="(\d+)"\]$')


def _fill_with_one_large(loki) -> None:
    with FileEventLog(loki) as log:
        log.append_many([NewEvent(type="task", source="runner", payload={"action": "created", "task_id": "t1"}),
                         NewEvent(type="task", source="runner", payload={"action": "note", "blob": "x" * 200_000}),
                         NewEvent(type="task", source="runner", payload={"action": "created", "task_id": "t3"})])
    sync_chain(loki, AuditSettings())


def test_a_large_entry_over_udp_goes_as_its_anchor_and_is_recorded_never_cut(loki, udp_listener):
    _fill_with_one_large(loki)
    lines = chain(loki)
    settings = SyslogSettings("127.0.0.1", udp_listener.getsockname()[1], "udp")
    assert forward(loki, settings, AuditSettings()).sent == 3
    first, second, third = (udp_listener.recv(70000) for _ in range(3))
    check_message(first, lines[0], 1)
    check_message(third, lines[2], 3)
    anchor = ANCHOR.match(second)
    assert anchor, second[:300]  # the whole datagram is a valid message: no half entry
    assert int(anchor.group(1)) == 2 and int(anchor.group(4)) == len(lines[1]) > MAX_UDP_MESSAGE
    assert anchor.group(3).decode() in lines[1].decode()
    with FileEventLog(loki) as log:
        recorded = [e.payload for e in log.read() if e.type == "audit"]
    assert [(r["action"], r["seq"]) for r in recorded] == [("syslog_oversize", 2)]
    assert Cursor(loki, NAME).seq == 3


def test_over_tcp_a_large_entry_goes_whole(loki, tcp_listener):
    _fill_with_one_large(loki)
    settings = SyslogSettings("127.0.0.1", tcp_listener.getsockname()[1], "tcp")
    assert forward(loki, settings, AuditSettings()).sent == 3
    frames = read_frames(tcp_listener, 3)
    for seq, (frame, line) in enumerate(zip(frames, chain(loki)), 1):
        check_message(frame, line, seq)


def test_name_lookups_are_bounded(loki):
    from subscribers.syslog import resolve

    assert resolve("localhost", 514, socket.SOCK_DGRAM, 2.0)[4][1] == 514
    started = time.monotonic()
    with pytest.raises(OSError):
        resolve("no-such-host.invalid", 514, socket.SOCK_DGRAM, 1.0)
    assert time.monotonic() - started < 1.5
