"""Merkle tree over a publication's artifacts, bit-compatible with ``contracts/LedgermarkMerkle.sol``.

Rules (DESIGN.md §4, RFC 6962 style, keccak256 so Solidity checks proofs cheaply):

* leaf = keccak256(0x00 ‖ abi.encode(string role, string path, uint256 size, bytes32 sha256, bytes cid));
* node = keccak256(0x01 ‖ left ‖ right).  The distinct prefixes keep a 64-byte leaf preimage from ever
  being read as an internal node (the second-preimage trap MerkleProof.sol warns about);
* an odd node at the end of a level is promoted unchanged, never duplicated (duplication lets two different
  leaf lists share a root, CVE-2012-2459);
* the leaf count is committed next to the root and duplicate leaves are rejected, so a root names exactly one
  ordered list;
* proofs are position-bound: ``(index, siblings)``.  The verifier walks the levels from the committed leaf
  count, knows at each level whether the node has a sibling, consumes every sibling exactly once and requires
  ``index < leaf_count``, so a proof also proves *where* the leaf sits.

Pure module: no web3, no ``registry`` import.
"""

from __future__ import annotations

from collections.abc import Sequence

from eth_abi import encode as abi_encode
from eth_hash.auto import keccak

from verifier.errors import VerifierError

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
HASH_SIZE = 32


class MerkleError(VerifierError, ValueError):
    """The input cannot form a well-defined tree or proof (empty list, duplicate leaf, bad index or hash)."""


def leaf_hash(role: str, path: str, size: int, sha256: bytes, cid: bytes) -> bytes:
    """Hash one manifest entry into its leaf; ``cid`` is the binary CID, ``sha256`` the raw 32-byte digest."""
    if len(sha256) != HASH_SIZE:
        raise MerkleError(f"sha256 must be {HASH_SIZE} bytes, got {len(sha256)}")
    if size < 0:
        raise MerkleError(f"size must be non-negative, got {size}")
    payload = abi_encode(["string", "string", "uint256", "bytes32", "bytes"], [role, path, size, sha256, cid])
    return keccak(LEAF_PREFIX + payload)


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash two children into their parent (order matters: proofs are position-bound)."""
    _check_hash(left, "left")
    _check_hash(right, "right")
    return keccak(NODE_PREFIX + left + right)


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """Root of the ordered ``leaves``; raises ``MerkleError`` on an empty list or a duplicate leaf."""
    return _levels(leaves)[-1][0]


def merkle_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """Siblings from the leaf at ``index`` up to the root; a promoted (sibling-less) level adds nothing."""
    if not 0 <= index < len(leaves):
        _check_leaves(leaves)
        raise MerkleError(f"index {index} out of range for {len(leaves)} leaves")
    return _siblings(_levels(leaves), index)


def merkle_proofs(leaves: Sequence[bytes]) -> list[list[bytes]]:
    """Every leaf's proof from one tree build: n − 1 node hashes in all, instead of n − 1 per proof."""
    levels = _levels(leaves)
    return [_siblings(levels, index) for index in range(len(leaves))]


def verify_proof(leaf: bytes, index: int, leaf_count: int, proof: Sequence[bytes], root: bytes) -> bool:
    """True iff ``proof`` places ``leaf`` at ``index`` of a ``leaf_count``-leaf tree with this ``root``.

    Never raises on a wrong proof (wrong length, index or hash all give False), so callers can report a
    plain mismatch; only structurally invalid inputs (hashes that are not 32 bytes) raise ``MerkleError``.
    """
    _check_hash(leaf, "leaf")
    _check_hash(root, "root")
    if leaf_count <= 0 or not 0 <= index < leaf_count:
        return False
    computed, used = leaf, 0
    count = leaf_count
    while count > 1:
        if index % 2 == 1 or index + 1 < count:  # the node has a sibling at this level
            if used == len(proof):
                return False
            sibling = proof[used]
            _check_hash(sibling, "proof element")
            used += 1
            computed = node_hash(sibling, computed) if index % 2 else node_hash(computed, sibling)
        index //= 2
        count = (count + 1) // 2
    return used == len(proof) and computed == root


def proof_length(index: int, leaf_count: int) -> int:
    """How many siblings a valid proof for ``index`` in a ``leaf_count``-leaf tree has."""
    if not 0 <= index < leaf_count:
        raise MerkleError(f"index {index} out of range for {leaf_count} leaves")
    length = 0
    while leaf_count > 1:
        if index % 2 == 1 or index + 1 < leaf_count:
            length += 1
        index //= 2
        leaf_count = (leaf_count + 1) // 2
    return length


def _levels(leaves: Sequence[bytes]) -> list[list[bytes]]:
    """Every level of the tree, leaves first and the root last (a one-element list)."""
    _check_leaves(leaves)
    levels = [list(leaves)]
    while len(levels[-1]) > 1:
        levels.append(_next_level(levels[-1]))
    return levels


def _siblings(levels: list[list[bytes]], index: int) -> list[bytes]:
    """The proof of leaf ``index``: its sibling on each level that has one, bottom-up."""
    proof = []
    for level in levels[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            proof.append(level[sibling])
        index //= 2
    return proof


def _next_level(level: list[bytes]) -> list[bytes]:
    paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
    if len(level) % 2:
        paired.append(level[-1])  # promoted unchanged
    return paired


def _check_leaves(leaves: Sequence[bytes]) -> None:
    if not leaves:
        raise MerkleError("a Merkle tree needs at least one leaf")
    for leaf in leaves:
        _check_hash(leaf, "leaf")
    if len(set(leaves)) != len(leaves):
        raise MerkleError("duplicate leaves: every artifact must be listed once")


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, (bytes, bytearray)) or len(value) != HASH_SIZE:
        raise MerkleError(f"{what} must be {HASH_SIZE} bytes")
