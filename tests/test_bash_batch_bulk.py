"""`lokilog-emit --batch` checks a batch of plain events all at once; it must decide as the loop would.

`_lokilog_batch_bulk` either declines (the per-line loop then runs) or produces, for every
line, the event body `_lokilog_batch_line` builds, id and timestamp aside. Both run in one
real bash per example over generated batches, some with a damaged line.
"""
from __future__ import annotations

import json
import re
import subprocess

from hypothesis import given, settings, strategies as st

from eventlog import FileEventLog
from eventlog.verify import verify_log
from tests.clients import BASH_EMIT, bash_emit, emit_env, log_lines, pending_files

HARNESS = r'''
source "$1"; export LC_ALL=C
mapfile -t lines
if _lokilog_batch_bulk; then printf 'BULK\n'; printf '%s\n' "${_b_bodies[@]}"; else printf 'DECLINED\n'; fi
n=0
for line in "${lines[@]}"; do
    n=$((n + 1))
    if _lokilog_batch_line "line $n" "$line" 2>/dev/null; then printf '%s\n' "$_e_body"; else printf 'REFUSED\n'; fi
done
'''
_ID_TS = re.compile(r'^"id":"[0-9a-f]{32}",(.*)"timestamp":"[^"]+",(.*)$')


def _run(lines: list[str]) -> tuple[str, list[str], list[str]]:
    done = subprocess.run(["bash", "-c", HARNESS, "harness", str(BASH_EMIT)], input="".join(f"{x}\n" for x in lines).encode(),
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    out = done.stdout.decode().split("\n")[:-1]
    verdict = out[0]
    bulk = out[1:1 + len(lines)] if verdict == "BULK" else []
    return verdict, bulk, out[1 + len(bulk):]


def _strip(body: str) -> str:
    return _ID_TS.sub(r"\1\2", body)


_ODD_NAMES = ["x" * 200, "x" * 201, "", "a\x7fb", "a b", "é", 'q"', "a\\b", "-1", "true"]
_plain = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e, blacklist_characters='"\\'), min_size=1, max_size=5)
_names = st.one_of(_plain, _plain, _plain, st.sampled_from(_ODD_NAMES))
_payloads = st.dictionaries(st.text("abn ,:", max_size=3), st.recursive(
    st.one_of(st.integers(-1000, 10**19), st.booleans(), st.none(), st.text("xy ,{}[]:", max_size=4)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text("ab", max_size=2), inner, max_size=2)),
    max_leaves=6), max_size=3)
_seps = st.sampled_from([(",", ":"), (", ", ": "), (" ,", " : ")])


@st.composite
def _lines(draw):
    line = json.dumps({"type": draw(_names), "source": draw(_names), "payload": draw(_payloads)},
                      separators=draw(_seps), ensure_ascii=False)
    if draw(st.integers(0, 19)) == 0:
        pos = draw(st.integers(0, len(line)))
        line = line[:pos] + draw(st.sampled_from(list('{}[],:" 0-1t'))) + line[pos + 1:]
    return line


@settings(max_examples=25, deadline=None)
@given(lines=st.lists(_lines(), min_size=1, max_size=8))
def test_the_bulk_check_decides_as_the_loop_does(lines):
    lines = [x for x in lines if "\n" not in x and "\r" not in x]
    if not lines:
        return
    verdict, bulk, loop = _run(lines)
    if verdict == "BULK":
        assert "REFUSED" not in loop
        assert [_strip(b) for b in bulk] == [_strip(b) for b in loop]


def _clean(i: int) -> str:
    return json.dumps({"type": "task", "source": "hook", "payload": {"action": "x", "n": i, "l": [1, {"a": None}]}})


ODD_LINES = [json.dumps({"type": name, "source": "hook", "payload": {}}) for name in _ODD_NAMES] + [
    json.dumps({"source": "hook", "type": "task", "payload": {}}), json.dumps({"type": "t", "source": "s"}),
    json.dumps({"type": "t", "source": "s", "payload": {"a": 1}, "stream": "x"}),
    json.dumps({"type": "t", "source": "s", "payload": []}), json.dumps({"type": "t", "source": "s", "payload": {"a": 1.5}}),
    '{"type":"t","source":"s","payload":{"a":1 2}}', '{"type":"t","source":"s","payload":{"a":01}}',
    '{"type":"t","source":"s","payload":{"a":"b"}}}', '{"type":"t","source":"s","payload":{"a":"b"}', "",
    '{"type":"t","source":"s","payload":{"a":"b\\"c"}}', '{"type":"t","source":"s","payload":{"a":"b"} }',
    '{"type":"t","source":"s","payload":{"a" "b"}}', ' {"type":"t","source":"s","payload":{}}']


def test_each_odd_line_is_decided_as_the_loop_does():
    for odd in ODD_LINES:
        lines = [_clean(0), odd, _clean(1)]
        verdict, bulk, loop = _run(lines)
        if verdict == "BULK":
            assert "REFUSED" not in loop and [_strip(b) for b in bulk] == [_strip(b) for b in loop], odd


def test_plain_batches_take_the_bulk_check():
    lines = [_clean(i) for i in range(50)]
    lines.append('{"type":"t","source":"s","payload":{}}')
    verdict, bulk, loop = _run(lines)
    assert verdict == "BULK" and [_strip(b) for b in bulk] == [_strip(b) for b in loop]


def test_a_bulk_batch_is_stored_in_order_with_its_ids(loki):
    payloads = [{"action": "x", "n": i, "text": "a, b: {c} * ? [ab]", "glob": "*"} for i in range(300)]
    lines = "".join(json.dumps({"type": "task", "source": "hook", "payload": p}) + "\n" for p in payloads)
    done = bash_emit("--batch", loki=loki, input=lines.encode())
    assert done.returncode == 0, done.stderr
    ids = done.stdout.decode().split()
    with FileEventLog(loki) as log:
        events = list(log.read())
    assert [e.id for e in events] == ids and [e.payload for e in events] == payloads
    assert [e.seq for e in events] == list(range(1, 301)) and not pending_files(loki)
    assert verify_log(FileEventLog(loki).paths).ok


def test_one_bad_line_in_a_plain_batch_stores_nothing(loki):
    lines = [json.dumps({"type": "task", "source": "hook", "payload": {"n": i}}) for i in range(5)]
    lines.append('{"type": "task", "source": "hook", "payload": {"n": 01}}')
    done = bash_emit("--batch", loki=loki, input="\n".join(lines).encode())
    assert done.returncode == 2 and b"line 6" in done.stderr and done.stdout == b""
    assert not log_lines(loki) and not pending_files(loki)


def test_glob_characters_in_a_batch_stay_text(loki, tmp_path):
    work = tmp_path / "cwd"
    work.mkdir()
    (work / "only-file").write_text("")  # a `*` expanded as a glob would become this name
    payloads = [{"glob": "*", "q": "?", "set": "[o]*", "n": i} for i in range(20)]
    lines = "".join(json.dumps({"type": "task", "source": "hook", "payload": p}) + "\n" for p in payloads)
    done = subprocess.run(["bash", str(BASH_EMIT), "--batch"], input=lines.encode(), cwd=work,
                          env={**emit_env(loki)}, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    with FileEventLog(loki) as log:
        assert [e.payload for e in log.read()] == payloads
