"""verifier.integrity.merkle: known-answer vectors, tree shape, proof binding and input validation.

The same vectors are replayed against the Solidity verifier in tests/contracts/test_merkle_contract.py.
"""

from __future__ import annotations

import hashlib

import pytest
from eth_hash.auto import keccak

from verifier.integrity import merkle

# Golden roots of ``vector_leaves(n)``: a change here changes every anchored root.
GOLDEN_ROOTS = {
    1: "00c480ee3df83495bac3742dcc9f9d0c015ec79c89c6673a2c8af8432d476d83",
    2: "b059805d3d12380445f469f82428c3c6bd2090ff77c93ffc19ae4c1c037ebd4c",
    3: "491c784819b0d3e883501d9f2bb6e6f69c43a9bbfb74229ee6dbff32c653c365",
    5: "f6a5b6bc8d4c810c6cfc7c4ca5f32c862125820b977039543c7ce59189309615",
    8: "b5ed4d70f74473d7640e852c534b0021b77736c4dc0b8ff9968eb4156c1cc8ba",
}
VECTOR_SIZES = sorted(GOLDEN_ROOTS)


def vector_leaves(n: int) -> list[bytes]:
    """``n`` manifest leaves over small known contents (sha256 + a CIDv1-raw-shaped CID)."""
    leaves = []
    for i in range(n):
        data = f"artifact {i}".encode()
        digest = hashlib.sha256(data).digest()
        role = "model" if i == 0 else "trigger"
        leaves.append(
            merkle.leaf_hash(role, f"dir/file{i}.bin", len(data), digest, b"\x01\x55\x12\x20" + digest)
        )
    return leaves


@pytest.mark.parametrize("n", VECTOR_SIZES)
def test_root_matches_golden_vector(n: int) -> None:
    assert merkle.merkle_root(vector_leaves(n)).hex() == GOLDEN_ROOTS[n]


def test_leaf_is_prefixed_abi_encoding() -> None:
    digest = bytes(range(32))
    # abi.encode(string,string,uint256,bytes32,bytes): 5 head words, then the three dynamic tails
    expected = keccak(
        b"\x00"
        + (5 * 32).to_bytes(32, "big")
        + (7 * 32).to_bytes(32, "big")
        + (7).to_bytes(32, "big")
        + digest
        + (9 * 32).to_bytes(32, "big")
        + (5).to_bytes(32, "big")
        + b"model".ljust(32, b"\x00")
        + (5).to_bytes(32, "big")
        + b"a.bin".ljust(32, b"\x00")
        + (2).to_bytes(32, "big")
        + b"\x01\x55".ljust(32, b"\x00")
    )
    assert merkle.leaf_hash("model", "a.bin", 7, digest, b"\x01\x55") == expected


def test_tree_shape_promotes_odd_node_unchanged() -> None:
    a, b, c, d, e = vector_leaves(5)
    n = merkle.node_hash
    assert merkle.merkle_root([a]) == a
    assert merkle.merkle_root([a, b]) == n(a, b)
    assert merkle.merkle_root([a, b, c]) == n(n(a, b), c)
    assert merkle.merkle_root([a, b, c, d, e]) == n(n(n(a, b), n(c, d)), e)


def test_node_hash_is_prefixed_and_ordered() -> None:
    a, b = vector_leaves(2)
    assert merkle.node_hash(a, b) == keccak(b"\x01" + a + b)
    assert merkle.node_hash(a, b) != merkle.node_hash(b, a)


def test_promotion_differs_from_duplication() -> None:
    """CVE-2012-2459: [a, b, c] must not share a root with [a, b, c, c]."""
    a, b, c = vector_leaves(3)
    assert merkle.merkle_root([a, b, c]) != merkle.node_hash(merkle.node_hash(a, b), merkle.node_hash(c, c))


@pytest.mark.parametrize("leaves", [[], "dup"], ids=["empty", "duplicate"])
def test_root_rejects_empty_and_duplicate_leaves(leaves: object) -> None:
    if leaves == "dup":
        leaves = vector_leaves(2) + vector_leaves(1)
    with pytest.raises(merkle.MerkleError):
        merkle.merkle_root(leaves)  # type: ignore[arg-type]


def test_rejects_malformed_hashes() -> None:
    with pytest.raises(merkle.MerkleError):
        merkle.merkle_root([b"short"])
    with pytest.raises(merkle.MerkleError):
        merkle.leaf_hash("model", "a", 1, b"\x00" * 31, b"")
    with pytest.raises(merkle.MerkleError):
        merkle.leaf_hash("model", "a", -1, b"\x00" * 32, b"")


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13])
def test_every_proof_verifies_only_at_its_own_index(n: int) -> None:
    leaves = vector_leaves(max(VECTOR_SIZES))[:n] if n <= 8 else vector_leaves(n)
    root = merkle.merkle_root(leaves)
    for i, leaf in enumerate(leaves):
        proof = merkle.merkle_proof(leaves, i)
        assert len(proof) == merkle.proof_length(i, n)
        assert merkle.verify_proof(leaf, i, n, proof, root)
        for j in range(n + 1):
            if j != i:
                assert not merkle.verify_proof(leaf, j, n, proof, root)


def test_proof_rejects_wrong_count_extra_or_missing_siblings() -> None:
    leaves = vector_leaves(5)
    root = merkle.merkle_root(leaves)
    proof = merkle.merkle_proof(leaves, 1)
    assert not merkle.verify_proof(leaves[1], 1, 4, proof, root)
    # (a larger count can walk the same path: the root alone does not bind the count, which is why the
    # count is committed on-chain next to the root and the verifier takes it from there)
    assert not merkle.verify_proof(leaves[1], 1, 5, proof + [leaves[0]], root)
    assert not merkle.verify_proof(leaves[1], 1, 5, proof[:-1], root)
    assert not merkle.verify_proof(leaves[1], 1, 0, proof, root)
    assert merkle.merkle_proof(leaves, 4) == [merkle.merkle_root(leaves[:4])]  # promoted, then one sibling


def test_internal_node_cannot_pose_as_leaf() -> None:
    """The 64-byte-leaf trap: an inner node with a shortened proof must not verify as a leaf."""
    a, b, c, d = vector_leaves(4)
    root = merkle.merkle_root([a, b, c, d])
    inner = merkle.node_hash(a, b)
    assert not merkle.verify_proof(inner, 0, 4, [merkle.node_hash(c, d)], root)
    # a naive verifier (no leaf count, no prefixes) would accept exactly this:
    assert merkle.node_hash(inner, merkle.node_hash(c, d)) == root


def test_proof_index_out_of_range() -> None:
    with pytest.raises(merkle.MerkleError):
        merkle.merkle_proof(vector_leaves(2), 2)
