"""The audit entries' RFC 9162 Merkle tree: proofs of inclusion and consistency, signed tree heads (docs/AUDIT.md)."""
from .bundle import CheckResult, check_bundle
from .heads import SignedHead, SigningUnavailableError
from .projection import MerkleProjection, MerkleState
from .store import NodeStore, merkle_dir
from .tree import (
    Frontier, ProofError, consistency_path, inclusion_path, leaf_hash, node_hash, root_from_inclusion, root_of,
    verify_consistency, verify_inclusion,
)

__all__ = [
    "CheckResult", "Frontier", "MerkleProjection", "MerkleState", "NodeStore", "ProofError", "SignedHead",
    "SigningUnavailableError", "check_bundle", "consistency_path", "inclusion_path", "leaf_hash", "merkle_dir",
    "node_hash", "root_from_inclusion", "root_of", "verify_consistency", "verify_inclusion",
]
