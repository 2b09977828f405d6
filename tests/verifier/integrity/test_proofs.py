"""All proofs from one tree build: equal to the per-index proofs, and O(n) hashing instead of O(n²)."""

from __future__ import annotations

import hashlib
import io

import pytest

from ipfs import unixfs
from verifier.integrity import manifest as manifestlib
from verifier.integrity import merkle


def _leaves(n: int) -> list[bytes]:
    return [
        merkle.leaf_hash("trigger", f"t{i}.bin", i, hashlib.sha256(bytes([i])).digest(), b"\x01\x55\x12\x20")
        for i in range(n)
    ]


def _reference_proof(leaves: list[bytes], index: int) -> list[bytes]:
    """The per-index algorithm, written independently: rebuild each level, take the sibling if any."""
    proof, level = [], list(leaves)
    while len(level) > 1:
        if index ^ 1 < len(level):
            proof.append(level[index ^ 1])
        pairs = [merkle.node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        level = pairs + ([level[-1]] if len(level) % 2 else [])
        index //= 2
    return proof


@pytest.mark.parametrize("n", range(1, 41))
def test_all_proofs_equal_the_per_index_proofs_and_verify(n: int) -> None:
    leaves = _leaves(n)
    root = merkle.merkle_root(leaves)

    proofs = merkle.merkle_proofs(leaves)

    assert proofs == [merkle.merkle_proof(leaves, i) for i in range(n)]
    assert proofs == [_reference_proof(leaves, i) for i in range(n)]
    assert all(merkle.verify_proof(leaves[i], i, n, proofs[i], root) for i in range(n))
    assert [len(p) for p in proofs] == [merkle.proof_length(i, n) for i in range(n)]


def test_one_tree_build_hashes_each_node_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"node": 0}
    original = merkle.node_hash

    def counting(left: bytes, right: bytes) -> bytes:
        calls["node"] += 1
        return original(left, right)

    monkeypatch.setattr(merkle, "node_hash", counting)
    merkle.merkle_proofs(_leaves(40))

    assert calls["node"] == 39  # n - 1 internal nodes, however many proofs


def test_manifest_hashes_each_leaf_once_for_root_and_all_proofs(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"leaf": 0}
    original = merkle.leaf_hash

    def counting(*args: object) -> bytes:
        calls["leaf"] += 1
        return original(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(merkle, "leaf_hash", counting)
    manifest = manifestlib.Manifest.create("n", _manifest_entries(40))

    proofs = manifest.proofs()
    root = manifest.root()

    assert calls["leaf"] == 40  # n, not n²
    assert proofs == [manifest.proof(i) for i in range(40)]
    assert all(merkle.verify_proof(leaf, i, 40, proofs[i], root) for i, leaf in enumerate(manifest.leaves()))


def test_proofs_of_an_empty_or_duplicated_list_are_refused() -> None:
    leaf = _leaves(1)[0]

    with pytest.raises(merkle.MerkleError, match="at least one leaf"):
        merkle.merkle_proofs([])
    with pytest.raises(merkle.MerkleError, match="duplicate leaves"):
        merkle.merkle_proofs([leaf, leaf])


def _manifest_entries(n: int) -> list[manifestlib.ManifestEntry]:
    digests = [unixfs.digest_stream(io.BytesIO(f"artifact {i}".encode()), cid_version=1) for i in range(n)]
    return [
        manifestlib.entry_from_digest(d, role="trigger", name=f"t{i:03}.bin") for i, d in enumerate(digests)
    ]
