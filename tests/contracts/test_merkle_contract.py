"""LedgermarkMerkle (through ModelRegistry.verifyArtifact) against verifier.integrity.merkle on the same inputs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3 import EthereumTesterProvider

from registry import chain as chainlib
from registry.chain import deployments
from tests.contracts.conftest import MANIFEST_CID
from tests.verifier.integrity.test_merkle import VECTOR_SIZES, vector_leaves
from verifier.integrity import merkle


@pytest.fixture(scope="module")
def merkle_registry() -> Iterator[chainlib.ModelRegistryClient]:
    """One chain for the whole module: the Merkle checks are read-only calls on many records."""
    chain = chainlib.Chain.connect(EthereumTesterProvider())
    yield chainlib.ModelRegistryClient(chain, deployments.deploy_registry(chain))


def _anchor(registry: chainlib.ModelRegistryClient, leaves: list[bytes]) -> int:
    root = merkle.merkle_root(leaves)
    existing = registry.record_id_by_root(root)
    if existing is not None:
        return existing
    record_id, _ = registry.publish(root, len(leaves), MANIFEST_CID)
    return record_id


@pytest.mark.parametrize("n", VECTOR_SIZES)
def test_vectors_agree_at_every_index_pair(merkle_registry: chainlib.ModelRegistryClient, n: int) -> None:
    leaves = vector_leaves(n)
    record_id, root = _anchor(merkle_registry, leaves), merkle.merkle_root(leaves)
    for i, leaf in enumerate(leaves):
        proof = merkle.merkle_proof(leaves, i)
        for j in range(n + 1):
            assert merkle_registry.verify_artifact(record_id, root, leaf, j, proof) is (i == j), (i, j)


def test_contract_rejects_malformed_proofs(merkle_registry: chainlib.ModelRegistryClient) -> None:
    leaves = vector_leaves(5)
    record_id, root = _anchor(merkle_registry, leaves), merkle.merkle_root(leaves)
    proof = merkle.merkle_proof(leaves, 1)
    assert merkle_registry.verify_artifact(record_id, root, leaves[1], 1, proof)
    assert not merkle_registry.verify_artifact(record_id, root, leaves[1], 1, proof + [leaves[0]])
    assert not merkle_registry.verify_artifact(record_id, root, leaves[1], 1, proof[:-1])
    assert not merkle_registry.verify_artifact(record_id, root, leaves[1], 1, [])
    assert not merkle_registry.verify_artifact(record_id, root, leaves[1], 2**255, proof)
    # the promoted last leaf: one sibling (the left subtree), consumed at the top level
    assert merkle_registry.verify_artifact(record_id, root, leaves[4], 4, [merkle.merkle_root(leaves[:4])])


def test_internal_node_cannot_pose_as_leaf_on_chain(merkle_registry: chainlib.ModelRegistryClient) -> None:
    """The 64-byte-leaf case: node(a, b) presented as leaf 0 with the short proof [node(c, d)]."""
    a, b, c, d = leaves = vector_leaves(4)
    record_id, root = _anchor(merkle_registry, leaves), merkle.merkle_root(leaves)
    inner, other = merkle.node_hash(a, b), merkle.node_hash(c, d)
    for index in (0, 1):
        assert not merkle_registry.verify_artifact(record_id, root, inner, index, [other])
        assert not merkle.verify_proof(inner, index, 4, [other], root)


_entry = st.tuples(
    st.sampled_from(["model", "trigger", "watermark-key", "card"]),
    st.integers(min_value=0, max_value=2**40),
    st.binary(min_size=32, max_size=32),
    st.binary(min_size=2, max_size=40),
)
_artifact_lists = st.dictionaries(
    st.text(alphabet="abcdefghij/._-0123456789", min_size=1, max_size=24), _entry, min_size=1, max_size=13
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(artifacts=_artifact_lists, data=st.data())
def test_python_and_contract_agree_on_random_manifests(
    merkle_registry: chainlib.ModelRegistryClient,
    artifacts: dict[str, tuple[str, int, bytes, bytes]],
    data: st.DataObject,
) -> None:
    leaves = [
        merkle.leaf_hash(role, path, size, digest, cid)
        for path, (role, size, digest, cid) in sorted(artifacts.items())
    ]
    if len(set(leaves)) != len(leaves):
        return  # identical entries: merkle_root rejects them by design
    record_id = _anchor(merkle_registry, leaves)
    root, n = merkle.merkle_root(leaves), len(leaves)
    for i, leaf in enumerate(leaves):
        proof = merkle.merkle_proof(leaves, i)
        assert merkle.verify_proof(leaf, i, n, proof, root)
        assert merkle_registry.verify_artifact(record_id, root, leaf, i, proof)
    i = data.draw(st.integers(min_value=0, max_value=n - 1), label="index")
    proof = merkle.merkle_proof(leaves, i)
    for j in range(n + 1):
        if j != i:
            assert not merkle.verify_proof(leaves[i], j, n, proof, root)
            assert not merkle_registry.verify_artifact(record_id, root, leaves[i], j, proof)
