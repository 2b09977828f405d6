"""The main flow on the real local chains, Ganache 7.9.2 and Anvil 1.7.1, started from the npm packages."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from web3 import Web3

from registry import chain as chainlib
from registry import dispute as flow
from registry.chain import deployments, localnode
from tests.verifier.test_merkle import vector_leaves
from verifier.integrity import merkle

pytestmark = pytest.mark.daemon

KEY_CID = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"


def test_main_flow(dev_node: localnode.LocalNode, dev_node_chain: chainlib.Chain) -> None:
    chain = dev_node_chain
    assert chain.chain_id == localnode.DEV_CHAIN_ID and chain.is_dev_chain
    accounts = [chain.with_account(a) for a in dev_node.accounts[:4]]
    registry = chainlib.ModelRegistryClient(chain, deployments.deploy_registry(chain))
    disputes = chainlib.OwnershipDisputesClient(
        chain,
        deployments.deploy_disputes(chain, registry.address, bond_wei=10**16, quorum=1, voting_period_s=600),
    )
    disputes.grant_arbiter(accounts[3].address)

    leaves = vector_leaves(5)
    record_id, _ = registry.publish(
        merkle.merkle_root(leaves), len(leaves), "bafymanifest", chainlib.watermark_key_hash(KEY_CID)
    )
    for i, leaf in enumerate(leaves):
        assert registry.verify_artifact(record_id, leaf, i, merkle.merkle_proof(leaves, i))
    assert not registry.verify_artifact(record_id, leaves[0], 1, merkle.merkle_proof(leaves, 0))
    derived, _ = registry.publish(
        os.urandom(32), 1, "bafyq", parent_id=record_id, derivation=chainlib.Derivation.QUANTIZE
    )
    assert [r.record_id for r in registry.ancestry(derived)] == [derived, record_id]

    thief = registry.using(accounts[1])
    suspect, _ = thief.publish(os.urandom(32), 2, "bafystolen")
    with pytest.raises(chainlib.UnauthorizedError):
        thief.revoke(record_id)
    resolution, report = flow.run_dispute(
        disputes,
        record_id,
        suspect,
        "bafyevidence",
        KEY_CID,
        [(disputes.using(accounts[3]), True, "bafyreport")],
    )
    assert resolution.outcome is chainlib.DisputeStatus.UPHELD
    assert report.dispute.priority is chainlib.Priority.CLAIMANT_FIRST
    assert [v.report_cid for v in report.votes] == ["bafyreport"]
    with pytest.raises(chainlib.DisputeStateError):
        disputes.finalise(report.dispute.dispute_id)

    registry.transfer(derived, accounts[2].address)
    registry.using(accounts[2]).revoke(derived)
    assert registry.record(derived).revoked and registry.record(derived).owner == accounts[2].address


def test_ganache_database_persists_and_pidfile_finds_node(tmp_path: Path) -> None:
    if not (localnode.NODE_MODULES / ".bin" / "ganache").exists():
        pytest.skip("ganache is not installed: run `make setup`")
    node = localnode.GanacheNode.managed(tmp_path)
    with node:
        found = localnode.GanacheNode.find_running(tmp_path)
        assert found is not None and found.pid == node.pid and found.url == node.url
        chain = chainlib.Chain.connect(Web3.HTTPProvider(node.url), node.private_keys[0])
        registry = chainlib.ModelRegistryClient(chain, deployments.deploy_registry(chain))
        root = os.urandom(32)
        record_id, _ = registry.publish(root, 1, "bafymanifest")
    assert localnode.GanacheNode.find_running(tmp_path) is None
    assert not (tmp_path / localnode.PIDFILE_NAME).exists()
    with localnode.GanacheNode.managed(tmp_path) as again:
        chain = chainlib.Chain.connect(Web3.HTTPProvider(again.url), again.private_keys[0])
        assert chainlib.ModelRegistryClient(chain, registry.address).record(record_id).root == root
