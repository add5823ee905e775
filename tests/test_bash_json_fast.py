"""The bash emitter's fast JSON route agrees with its tokenizer wherever it decides.

`_lokilog_json_fast` (no backslash, no control byte) either declines, or accepts exactly what
the tokenizer `_lokilog_json` accepts, with the same compact text and the same members. Both
run in one real bash per example, over valid JSON in several spacings and over mutations of it.
"""
from __future__ import annotations

import json
import subprocess

from hypothesis import given, settings, strategies as st

from tests.clients import BASH_EMIT

# Source the emitter, keep a copy of the fast route, then disable it so that _lokilog_json is
# the tokenizer alone; print, per input line, both verdicts and outputs, NUL-separated.
HARNESS = r'''
source "$1"; export LC_ALL=C
eval "fast_copy() $(declare -f _lokilog_json_fast | tail -n +2)"
_lokilog_json_fast() { return 1; }
show() { printf '%s\0%s\0' "$_lj" "${_lj_mkeys[*]}"; printf '%s\1' "${_lj_mvals[@]}"; printf '\0'; }
while IFS= read -r l; do
    _lj= _lj_keys=$'\n' _lj_mkeys=() _lj_mvals=()
    if fast_copy "$l"; then printf 'F\0'; show; else printf 'f\0\0\0\0'; fi
    _lj= _lj_keys=$'\n' _lj_mkeys=() _lj_mvals=()
    if _lokilog_json x "$l" 2>/dev/null; then printf 'S\0'; show; else printf 's\0\0\0\0'; fi
done
'''

_scalars = st.one_of(st.integers(-10**20, 10**20), st.booleans(), st.none(), st.floats(allow_nan=False, allow_infinity=False),
                     st.text(st.characters(min_codepoint=0x20, max_codepoint=0x2FF, blacklist_categories=("Cs",)), max_size=6))
_values = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                         st.dictionaries(st.text("abt p,:{", max_size=4), inner, max_size=3)),
                       max_leaves=8)
_seps = st.sampled_from([(",", ":"), (", ", ": "), (" , ", " :  "), (",", ": ")])
_alphabet = '{}[],:" 0123456789-truefalsnl.eE\\x'


@st.composite
def _texts(draw):
    text = json.dumps(draw(_values), separators=draw(_seps), ensure_ascii=draw(st.booleans()))
    if draw(st.booleans()):
        chars = list(text)
        for _ in range(draw(st.integers(1, 3))):
            pos = draw(st.integers(0, len(chars)))
            if draw(st.booleans()) and chars:
                del chars[min(pos, len(chars) - 1)]
            else:
                chars.insert(pos, draw(st.sampled_from(_alphabet)))
        text = "".join(chars)
    return text


def _verdicts(texts: list[str]) -> list[tuple[list[bytes], list[bytes]]]:
    """(fast, slow) per text: verdict (F/f, S/s), compact text, keys, values."""
    data = "".join(t + "\n" for t in texts).encode()
    done = subprocess.run(["bash", "-c", HARNESS, "harness", str(BASH_EMIT)], input=data,
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    fields = done.stdout.split(b"\0")[:-1]
    assert len(fields) == 8 * len(texts)
    return [(fields[8 * i:8 * i + 4], fields[8 * i + 4:8 * i + 8]) for i in range(len(texts))]


def _agree(texts: list[str]) -> None:
    for text, (fast, slow) in zip(texts, _verdicts(texts)):
        if fast[0] == b"F":
            assert slow == [b"S", *fast[1:]], text


@settings(max_examples=25, deadline=None)
@given(texts=st.lists(_texts(), min_size=1, max_size=40))
def test_the_fast_route_never_disagrees_with_the_tokenizer(texts):
    _agree([t for t in texts if "\n" not in t and "\r" not in t])


# Each of these once got, or could get, past a shortcut of the fast route.
TRICKY = ['[1 2]', '{"a":1 2}', '{"a":"b" "c"}', '[true false]', '{"a":1true}', '{"a":truefalse}', '-', '01',
          '{"a":-01}', '{"a":--1}', '[1,]', '{"a":"b"}}', '{} {}', '[1 , 2 ]', '{"a" : "b" , "c":[ ]}', '{"a":"b",}',
          '{"a":"b","a":"c"}', '{"a":{"b":1},"c":2}', '{s:1}', '[{"a":1} {"b":2}]', '[[1],[2,[3]]]', '"a""b"', '',
          '   ', '{"a":nul}', '{"a":1.5}', '{"%s":"%d"}', '-1', '{"a":[1,2],"b":"c"}', '[1,"a":2]', '{"a":[1,"b":2]}']


def test_tricky_texts():
    _agree(TRICKY)
    declined = [t for t, (fast, _) in zip(TRICKY, _verdicts(TRICKY)) if fast[0] == b"f"]
    assert "[1 2]" in declined and '{"a":1 2}' in declined and '{"a":1true}' in declined


def test_the_fast_route_takes_what_jq_and_json_dumps_write():
    lines = [json.dumps({"type": "task", "source": "hook", "payload": {"action": "x", "n": i, "ok": None}})
             for i in range(3)] + ['{"c":"d e","a":[1,-2,{"b":[]}]}', '[true,false,null]', '-0', '"x"']
    assert [(fast[0], slow[0]) for fast, slow in _verdicts(lines)] == [(b"F", b"S")] * len(lines)
