"""Regressions found by the torture suite's fuzzers: hostile input gets a clear error, not a crash."""
import pytest

from commands.payloads import parse_pair
from commands.policy.loader import PolicyLoadError, parse_policies
from eventlog import InvalidEventError


def test_a_json_pair_that_is_not_utf8_is_rejected_clearly():
    # Command-line bytes that are not UTF-8 reach Python as surrogate escapes.
    with pytest.raises(InvalidEventError, match="the value after := is not JSON"):
        parse_pair(b"k:=\xe2\r1".decode("utf-8", "surrogateescape"))


@pytest.mark.parametrize("text", [b"\x07policies:\n", b"policies:\n \x07 pre_execution: []\n", b"\x1b"])
def test_a_policy_file_with_control_characters_is_rejected_clearly(text):
    with pytest.raises(PolicyLoadError, match="invalid YAML: unacceptable character"):
        parse_policies(text)


def test_a_loki_mode_file_that_is_not_utf8_is_reported_and_blocks_nothing(loki):
    from eventlog import FileEventLog

    pending = loki / "events" / "pending"
    pending.mkdir(parents=True)
    (pending / "2026-01-01T00-00-00.000Z_ab12.json").write_bytes(
        b'{"id":"ab12","type":"task","source":"hook","timestamp":"2026-01-01T00:00:00Z","pay\xe4load":{}}')
    (loki / "events.jsonl").write_bytes(b'{"timestamp":"2026-01-01T00:00:00Z","type":"x","d\xd0ta":{}}\n')
    with FileEventLog(loki) as log:
        report = log.ingest_pending()
        reasons = sorted(bad.reason for bad in report.bad)
        # Both files are named with the byte that breaks them, whichever error msgspec raises.
        assert any("not UTF-8 text: invalid byte 0xe4 at offset 82" in r for r in reasons), reasons
        assert any("not UTF-8 text: invalid byte 0xd0 at offset 49" in r for r in reasons), reasons
        assert log.append("task", "after").seq == 2  # seq 1 records that the file was set aside
