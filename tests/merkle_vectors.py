"""Golden proof bundles for both verifiers (tests/vectors/merkle_bundles.json), built from a fixed test key.

Ed25519 signatures are deterministic, so the same key and heads always give the same file.
Regenerate with `python tests/merkle_vectors.py` after a deliberate format change.
"""
from __future__ import annotations

import copy
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from projections.audit.merkle.bundle import consistency_bundle, inclusion_bundle  # noqa: E402
from projections.audit.merkle.tree import consistency_path, inclusion_path, leaf_hash, root_of  # noqa: E402

VECTORS = ROOT / "tests" / "vectors" / "merkle_bundles.json"
#: A published test key (never used for anything but these vectors).
TEST_SEED = hashlib.sha256(b"lokilog merkle test vector key").digest()
ENTRIES = [json.dumps({"seq": i, "who": f"agent-{i % 3}", "what": "task.completed", "hash": f"sha256:{i:064x}"},
                      separators=(",", ":")) for i in range(1, 8)]


def test_key():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.from_private_bytes(TEST_SEED)


def build() -> dict:
    """Return the vectors: valid bundles and, derived from them, altered ones that must fail."""
    from commands.audit.heads import sign_head

    key = test_key()
    leaves = [leaf_hash(e.encode()) for e in ENTRIES]
    sub = lambda s, e: root_of(leaves[s:e])
    heads = {n: sign_head(key, n, root_of(leaves[:n]).hex(), f"2026-02-21T10:00:0{n}.000Z") for n in (3, 7)}
    inclusion = inclusion_bundle(4, 3, 7, ENTRIES[3].encode(), leaves[3], inclusion_path(3, 7, sub),
                                 root_of(leaves), heads[7])
    consistency = consistency_bundle(3, 7, root_of(leaves[:3]), root_of(leaves), consistency_path(3, 7, sub),
                                     heads[7], heads[3])
    cases = [("inclusion, signed head", inclusion, True), ("consistency, both heads signed", consistency, True)]
    cases += _altered(inclusion, consistency)
    return {"public_key": heads[7].public_key, "key_id": heads[7].key_id,
            "cases": [{"name": name, "bundle": bundle, "valid": valid} for name, bundle, valid in cases]}


def _altered(inclusion: dict, consistency: dict) -> list[tuple[str, dict, bool]]:
    def change(bundle, name, edit):
        altered = copy.deepcopy(bundle)
        edit(altered)
        return (name, altered, False)

    def flip_hex(text: str) -> str:
        return ("1" if text[0] == "0" else "0") + text[1:]

    return [
        change(inclusion, "entry altered", lambda b: b.update(entry=b["entry"].replace("agent-1", "agent-2"), leaf_hash=None)),
        change(inclusion, "path node altered", lambda b: b["path"].__setitem__(0, flip_hex(b["path"][0]))),
        change(inclusion, "leaf index changed", lambda b: b.update(leaf_index=2)),
        change(inclusion, "head root altered", lambda b: b["head"].update(root_hash=flip_hex(b["head"]["root_hash"]))),
        change(inclusion, "head timestamp altered", lambda b: b["head"].update(timestamp="2026-02-21T10:00:08.000Z")),
        change(inclusion, "head tree_size altered", lambda b: b["head"].update(tree_size=6)),
        change(inclusion, "path node dropped", lambda b: b["path"].pop()),
        change(consistency, "old head root altered",
               lambda b: b["old_head"].update(root_hash=flip_hex(b["old_head"]["root_hash"]))),
        change(consistency, "consistency path node altered", lambda b: b["path"].__setitem__(1, flip_hex(b["path"][1]))),
        change(consistency, "old size changed", lambda b: b.update(old_size=2)),
    ]


if __name__ == "__main__":
    VECTORS.write_text(json.dumps(build(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {VECTORS}")
