"""Hypothesis strategies for events and payloads, shared by the property tests."""
from __future__ import annotations

from hypothesis import strategies as st

# Any JSON value: every string a user can pass (control characters, quotes, non-ASCII, but no
# lone surrogates, which are not text), finite numbers, nesting.
json_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(
    allow_nan=False, allow_infinity=False
) | st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
payloads = st.dictionaries(st.text(max_size=12), json_values, max_size=6)
names = st.text(st.characters(min_codepoint=0x20, blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30)
ids = st.text("abcdef0123456789-_.:", min_size=1, max_size=40)
