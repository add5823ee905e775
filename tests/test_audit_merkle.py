"""The audit Merkle tree: RFC 9162 hashing, proofs, the node store and proof bundles.

Checked against the reference vectors of transparency-dev/merkle (tests/vectors/merkle_rfc9162.json,
source cited there), against the RFC's recursive definitions over random trees, and bit by bit.
"""
from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from merkle_vectors import VECTORS as BUNDLE_VECTORS
from merkle_vectors import build as build_bundle_vectors
from projections.audit.merkle.bundle import check_bundle, consistency_bundle, inclusion_bundle
from projections.audit.merkle.store import NodeStore
from projections.audit.merkle.tree import (
    EMPTY_ROOT, Frontier, ProofError, consistency_path, inclusion_path, leaf_hash, node_hash, root_from_inclusion,
    root_of, verify_consistency, verify_inclusion,
)

RFC = json.loads((Path(__file__).parent / "vectors" / "merkle_rfc9162.json").read_text())
RFC_LEAVES = [leaf_hash(bytes.fromhex(h)) for h in RFC["leaves"]]
RFC_ROOTS = [bytes.fromhex(h) for h in RFC["roots"]]

# Distinct entries, as a chain's are (each names its seq and the previous hash): two equal leaves
# would let a proof of one stand for the other, which is the same entry at another position.
entries_lists = st.lists(st.binary(max_size=40), min_size=1, max_size=70, unique=True)


def flip(data: bytes, bit: int) -> bytes:
    changed = bytearray(data)
    changed[bit // 8] ^= 1 << (bit % 8)
    return bytes(changed)


def oracle(leaves):
    """subtree() straight from the RFC's definition (MTH over the slice)."""
    return lambda start, end: root_of(leaves[start:end])


# ---------------------------------------------------------------------- reference vectors

def test_reference_roots_and_the_empty_tree():
    assert EMPTY_ROOT.hex() == RFC["empty_root"]
    for n in range(1, len(RFC_LEAVES) + 1):
        frontier = Frontier()
        for leaf in RFC_LEAVES[:n]:
            frontier.append(leaf)
        assert frontier.root() == root_of(RFC_LEAVES[:n]) == RFC_ROOTS[n - 1]


@pytest.mark.parametrize("vector", RFC["inclusion"], ids=lambda v: f"{v['leaf_index']}@{v['tree_size']}")
def test_reference_inclusion_proofs_are_built_and_verified(vector):
    index, size, path = vector["leaf_index"], vector["tree_size"], [bytes.fromhex(h) for h in vector["path"]]
    assert inclusion_path(index, size, oracle(RFC_LEAVES)) == path
    verify_inclusion(index, size, RFC_LEAVES[index], path, RFC_ROOTS[size - 1])
    root = RFC_ROOTS[size - 1]
    for probe in [(index + 1, size, path, root), (index, size * 2, path, root), (index, size, path + [root], root),
                  (index, size, [root] + path, root), (index, size, path, bytes.fromhex(RFC["empty_root"]))]:
        with pytest.raises(ProofError):
            verify_inclusion(probe[0], probe[1], RFC_LEAVES[index], probe[2], probe[3])


@pytest.mark.parametrize("vector", RFC["consistency"], ids=lambda v: f"{v['old_size']}->{v['new_size']}")
def test_reference_consistency_proofs_are_built_and_verified(vector):
    m, n, path = vector["old_size"], vector["new_size"], [bytes.fromhex(h) for h in vector["path"]]
    assert consistency_path(m, n, oracle(RFC_LEAVES)) == path
    verify_consistency(m, n, RFC_ROOTS[m - 1], RFC_ROOTS[n - 1], path)
    if path:
        for probe in [(m - 1, n), (m + 1, n), (m ^ 2, n), (m, n * 2), (m, n // 2)]:
            with pytest.raises(ProofError):
                verify_consistency(*probe, RFC_ROOTS[m - 1], RFC_ROOTS[n - 1], path)
        with pytest.raises(ProofError):
            verify_consistency(m, n, RFC_ROOTS[n - 1], RFC_ROOTS[m - 1], path)


def test_trivial_consistency_cases_match_the_reference_implementation():
    a, b = RFC_ROOTS[0], RFC_ROOTS[1]
    verify_consistency(0, 0, a, a, [])
    verify_consistency(0, 1, a, b, [])
    verify_consistency(1, 1, b, b, [])
    for args in [(1, 1, a, b, []), (2, 1, a, b, []), (1, 2, a, b, []), (0, 1, a, a, [a])]:
        with pytest.raises(ProofError):
            verify_consistency(*args)


# ---------------------------------------------------------------------- random trees

@settings(max_examples=60, deadline=None)
@given(entries=entries_lists, data=st.data())
def test_every_inclusion_proof_verifies_and_any_bit_flip_fails(entries, data):
    leaves = [leaf_hash(e) for e in entries]
    size = data.draw(st.integers(1, len(leaves)), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    root, path = root_of(leaves[:size]), inclusion_path(index, size, oracle(leaves))
    assert root_from_inclusion(index, size, leaves[index], path) == root
    entry = entries[index] or b"\x00"  # an empty entry has no bit to flip: flip one of a 1-byte entry
    entry_root = root if entries[index] else root_of(leaves[:index] + [leaf_hash(entry)] + leaves[index + 1:size])
    bit = data.draw(st.integers(0, len(entry) * 8 - 1), label="entry bit")
    with pytest.raises(ProofError):
        verify_inclusion(index, size, leaf_hash(flip(entry, bit)), path, entry_root)
    with pytest.raises(ProofError):
        verify_inclusion(index, size, leaves[index], path, flip(root, data.draw(st.integers(0, 255), label="root bit")))
    if path:
        k = data.draw(st.integers(0, len(path) - 1), label="node")
        broken = path[:k] + [flip(path[k], data.draw(st.integers(0, 255), label="node bit"))] + path[k + 1:]
        with pytest.raises(ProofError):
            verify_inclusion(index, size, leaves[index], broken, root)
    other = index ^ (1 << data.draw(st.integers(0, 7), label="index bit"))
    with pytest.raises(ProofError):
        verify_inclusion(other, size, leaves[index], path, root)


@settings(max_examples=60, deadline=None)
@given(entries=entries_lists, data=st.data())
def test_every_consistency_proof_verifies_and_any_bit_flip_fails(entries, data):
    leaves = [leaf_hash(e) for e in entries]
    new = data.draw(st.integers(1, len(leaves)), label="new size")
    old = data.draw(st.integers(0, new), label="old size")
    old_root, new_root = root_of(leaves[:old]), root_of(leaves[:new])
    path = consistency_path(old, new, oracle(leaves))
    verify_consistency(old, new, old_root, new_root, path)
    if not 0 < old < new:
        return
    with pytest.raises(ProofError):
        verify_consistency(old, new, flip(old_root, data.draw(st.integers(0, 255))), new_root, path)
    with pytest.raises(ProofError):
        verify_consistency(old, new, old_root, flip(new_root, data.draw(st.integers(0, 255))), path)
    k = data.draw(st.integers(0, len(path) - 1), label="node")
    broken = path[:k] + [flip(path[k], data.draw(st.integers(0, 255), label="node bit"))] + path[k + 1:]
    with pytest.raises(ProofError):
        verify_consistency(old, new, old_root, new_root, broken)


@settings(max_examples=40, deadline=None)
@given(entries=entries_lists, cut=st.integers(0, 69))
def test_a_changed_old_entry_fails_the_consistency_proof_against_the_old_root(entries, cut):
    old = 1 + cut % len(entries)
    leaves = [leaf_hash(e) for e in entries]
    rewritten = [leaf_hash(b"rewritten")] + leaves[1:]
    new = len(leaves)
    if old == new or entries[0] == b"rewritten":
        return
    with pytest.raises(ProofError):
        verify_consistency(old, new, root_of(leaves[:old]), root_of(rewritten),
                           consistency_path(old, new, oracle(rewritten)))


# ---------------------------------------------------------------------- the node store

@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=entries_lists, splits=st.lists(st.integers(1, 70), max_size=3))
def test_the_store_answers_every_proof_like_the_definition(tmp_path_factory, entries, splits):
    directory = tmp_path_factory.mktemp("store")
    leaves = [leaf_hash(e) for e in entries]
    done = 0
    for cut in sorted({min(s, len(leaves)) for s in splits} | {len(leaves)}):
        with NodeStore(directory, writable=True) as store:  # reopened between batches: resumes its frontier
            for i in range(done, cut):
                store.append(leaves[i], 10 + 2 * i)
            store.flush(seq=cut, chain_head="GENESIS", durable=False)
        done = cut
    with NodeStore(directory) as store:
        assert store.size == len(leaves)
        for size in range(len(leaves) + 1):
            assert store.root(size) == root_of(leaves[:size])
            for index in range(size):
                assert store.inclusion(index, size) == inclusion_path(index, size, oracle(leaves))
        for old in range(len(leaves) + 1):
            assert store.consistency(old) == consistency_path(old, len(leaves), oracle(leaves))
        assert [store.index_of(10 + 2 * i) for i in range(len(leaves))] == list(range(len(leaves)))
        assert store.index_of(11) is None and store.index_of(10 + 2 * len(leaves)) is None
        with pytest.raises(ProofError, match="no proof for size"):
            store.inclusion(0, len(leaves) + 1)


def test_bytes_written_past_the_recorded_size_are_cut(tmp_path):
    leaves = [leaf_hash(bytes([i])) for i in range(11)]
    with NodeStore(tmp_path, writable=True) as store:
        for i, leaf in enumerate(leaves[:7]):
            store.append(leaf, i + 1)
        store.flush(seq=7, chain_head="GENESIS")
        for i, leaf in enumerate(leaves[7:], start=7):
            store.append(leaf, i + 1)
        store._write_buffers()  # a kill here: the nodes are on disk, tree.json still says 7
    assert (tmp_path / "level-00.bin").stat().st_size == 11 * 32
    with NodeStore(tmp_path, writable=True) as store:
        assert store.size == 7 and (tmp_path / "level-00.bin").stat().st_size == 7 * 32
        assert store.root() == root_of(leaves[:7])
        store.append(leaves[7], 8)
        store.flush(seq=8, chain_head="GENESIS")
        assert store.root() == root_of(leaves[:8])


def test_a_store_shorter_than_its_record_starts_over(tmp_path):
    with NodeStore(tmp_path, writable=True) as store:
        for i in range(6):
            store.append(leaf_hash(bytes([i])), i + 1)
        store.flush(seq=6, chain_head="GENESIS")
    os.truncate(tmp_path / "level-01.bin", 32)
    with NodeStore(tmp_path, writable=True) as store:
        assert (store.size, store.meta.seq) == (0, 0)  # the writer refolds from the log


# ---------------------------------------------------------------------- bundles

def test_bundle_vectors_are_current():
    pytest.importorskip("cryptography")
    assert json.loads(BUNDLE_VECTORS.read_text()) == json.loads(json.dumps(build_bundle_vectors()))


@pytest.mark.parametrize("case", json.loads(BUNDLE_VECTORS.read_text())["cases"], ids=lambda c: c["name"])
def test_bundle_vectors_check_as_expected(case):
    pytest.importorskip("cryptography")
    keyid = json.loads(BUNDLE_VECTORS.read_text())["key_id"]
    result = check_bundle(case["bundle"], pinned_key=keyid)
    assert result.valid is case["valid"], result.error
    assert result.signed or not case["valid"]


def _signed_bundles(entries: list[bytes], index: int, old: int):
    from commands.audit.heads import sign_head
    from merkle_vectors import test_key

    leaves = [leaf_hash(e) for e in entries]
    n = len(leaves)
    head = sign_head(test_key(), n, root_of(leaves).hex(), "2026-02-21T10:00:00.000Z")
    old_head = sign_head(test_key(), old, root_of(leaves[:old]).hex(), "2026-02-20T10:00:00.000Z")
    inclusion = inclusion_bundle(index + 1, index, n, entries[index], leaves[index],
                                 inclusion_path(index, n, oracle(leaves)), root_of(leaves), head)
    consistency = consistency_bundle(old, n, root_of(leaves[:old]), root_of(leaves),
                                     consistency_path(old, n, oracle(leaves)), head, old_head)
    return inclusion, consistency


def _bit_flips(value, data, label):
    """Return ``value`` (an int or a string) with one bit changed, as drawn."""
    if isinstance(value, int):
        return value ^ (1 << data.draw(st.integers(0, 10), label=label))
    raw = value.encode()
    return flip(raw, data.draw(st.integers(0, len(raw) * 8 - 1), label=label)).decode("latin-1")


INCLUSION_FIELDS = ["entry", "leaf_index", "tree_size", "path", "head.tree_size", "head.root_hash", "head.timestamp",
                    "head.signature", "head.public_key", "head.key_id"]
CONSISTENCY_FIELDS = ["old_size", "new_size", "path", "head.root_hash", "head.signature", "old_head.tree_size",
                      "old_head.root_hash", "old_head.timestamp", "old_head.signature"]


@settings(max_examples=80, deadline=None)
@given(entries=st.lists(st.binary(min_size=1, max_size=30).map(lambda b: b.hex().encode()), min_size=2, max_size=20,
                        unique=True),
       data=st.data())
def test_a_signed_bundle_verifies_and_any_single_bit_change_fails(entries, data):
    pytest.importorskip("cryptography")
    index = data.draw(st.integers(0, len(entries) - 1), label="index")
    old = data.draw(st.integers(1, len(entries) - 1), label="old size")
    inclusion, consistency = _signed_bundles(entries, index, old)
    assert check_bundle(inclusion).valid and check_bundle(consistency).valid
    for bundle, fields in ((inclusion, INCLUSION_FIELDS), (consistency, CONSISTENCY_FIELDS)):
        name = data.draw(st.sampled_from(fields), label="field")
        altered = copy.deepcopy(bundle)
        *outer, key = name.split(".")
        holder = altered[outer[0]] if outer else altered
        if key == "path":
            if not holder["path"]:
                continue
            k = data.draw(st.integers(0, len(holder["path"]) - 1), label="node")
            holder["path"][k] = _bit_flips(holder["path"][k], data, "path bit")
        else:
            holder[key] = _bit_flips(holder[key], data, f"{name} bit")
        result = check_bundle(altered)
        assert not result.valid, f"{name} changed and still verified"


def test_an_unsigned_bundle_says_so():
    leaves = [leaf_hash(b"a"), leaf_hash(b"b"), leaf_hash(b"c")]
    bundle = inclusion_bundle(2, 1, 3, b"b", leaves[1], inclusion_path(1, 3, oracle(leaves)), root_of(leaves), None)
    result = check_bundle(bundle)
    assert result.valid and not result.signed and "NOT signed" in result.checks[0]
    assert not check_bundle({**bundle, "entry": None}).valid
    assert check_bundle({**bundle, "entry": None}, entry=b"b").valid
    assert "lowercase" in check_bundle({**bundle, "root_hash": bundle["root_hash"].upper()}).error
    assert check_bundle({"type": "exclusion"}).error.startswith('a proof bundle\'s "type"')
