"""Regressions found by the torture suite's bit flips: a damaged head.json fails verification."""
import pytest

from eventlog import FileEventLog
from projections.audit.trail import verify_trail
from projections.audit.writer import sync_chain


@pytest.fixture
def chained(loki):
    with FileEventLog(loki) as log:
        for i in range(5):
            log.append("task", "runner", {"action": "claim", "task_id": f"t{i}"})
    sync_chain(loki)
    assert verify_trail(loki).valid
    return loki / "lokilog" / "audit" / "head.json"


@pytest.mark.parametrize("damage", [
    lambda d: d.replace(b'"seq"', b'"sey"'),          # a renamed field read as its default
    lambda d: d.replace(b'"hash":"', b'"hash":"\xb5'),  # not UTF-8: the verifier crashed
    lambda d: d.replace(b'"pruned":null', b'"pruned":nul!'),  # unparseable: read as missing
    lambda d: d.replace(b'"entries":5', b'"entries":7'),  # a count nobody compared
])
def test_a_damaged_head_record_fails_verification(chained, damage):
    chained.write_bytes(damage(chained.read_bytes()))
    result = verify_trail(chained.parent.parent.parent)
    assert not result.valid
    assert "head" in result.error
