"""The real local chains, Ganache 7.9.2 and Anvil 1.7.1: the main flow on each, persistence, argv from the config."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from registry import chain as chainlib
from registry import dispute as flow
from registry.chain import deployments, localnode
from tests.fixtures.chain_nodes import require_binary
from tests.verifier.integrity.test_merkle import vector_leaves
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
    root = merkle.merkle_root(leaves)
    record_id, _ = registry.publish(
        root,
        len(leaves),
        "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o",
        chainlib.watermark_key_hash(KEY_CID),
    )
    for i, leaf in enumerate(leaves):
        assert registry.verify_artifact(record_id, root, leaf, i, merkle.merkle_proof(leaves, i))
    assert not registry.verify_artifact(record_id, root, leaves[0], 1, merkle.merkle_proof(leaves, 0))
    derived, _ = registry.publish(
        os.urandom(32),
        1,
        "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o",
        parent_id=record_id,
        derivation=chainlib.Derivation.QUANTIZE,
    )
    assert [r.record_id for r in registry.ancestry(derived)] == [derived, record_id]

    thief = registry.using(accounts[1])
    suspect, _ = thief.publish(os.urandom(32), 2, "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o")
    with pytest.raises(chainlib.UnauthorizedError):
        thief.revoke(record_id)
    resolution, report = flow.run_dispute(
        disputes,
        record_id,
        suspect,
        "bafyevidence",
        KEY_CID,
        [(disputes.using(accounts[3]), True, "bafyreport")],
        data_key=bytes(range(1, 33)),
        evidence_hash=bytes(range(32, 64)),
        report_cid="bafyfullreport",
    )
    assert resolution.outcome is chainlib.DisputeStatus.UPHELD
    assert report.dispute.priority is chainlib.Priority.CLAIMANT_FIRST
    assert [v.report_cid for v in report.votes] == ["bafyreport"]
    with pytest.raises(chainlib.DisputeStateError):
        disputes.finalise(report.dispute.dispute_id)

    registry.transfer(derived, accounts[2].address)
    registry.using(accounts[2]).revoke(derived)
    assert registry.record(derived).revoked and registry.record(derived).owner == accounts[2].address


@pytest.mark.parametrize("node_class", [localnode.GanacheNode, localnode.AnvilNode])
def test_state_persists_and_pidfile_finds_node(tmp_path: Path, node_class: type[localnode.LocalNode]) -> None:
    require_binary(node_class.kind)
    node = node_class.managed(tmp_path)
    with node:
        found = node_class.find_running(tmp_path)
        assert found is not None and found.pid == node.pid and found.url == node.url
        chain = chainlib.Chain.connect(node.transport(), node.first_key)
        registry = chainlib.ModelRegistryClient(chain, deployments.deploy_registry(chain))
        root = os.urandom(32)
        record_id, _ = registry.publish(root, 1, "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o")
    assert not node.is_running() and node_class.find_running(tmp_path) is None
    assert not (tmp_path / localnode.PIDFILE_NAME).exists()
    with node_class.managed(tmp_path) as again:
        chain = chainlib.Chain.connect(again.transport(), again.first_key)
        reader = chainlib.ModelRegistryClient(chain, registry.address)
        assert reader.record(record_id).root == root
        # this node's revert format, decoded on the web3-free read path
        with pytest.raises(chainlib.UnknownRecordError):
            reader.record(record_id + 1)


def test_argv_comes_from_localchain_json(tmp_path: Path) -> None:
    config = localnode.config()
    assert (config["chain_id"], config["hardfork"]) == (1337, "shanghai")
    require_binary("anvil")
    node = localnode.AnvilNode(tmp_path / "state.json", port=8545)
    argv = node.command()
    assert argv[argv.index("--mnemonic") + 1] == config["mnemonic"]
    assert argv[argv.index("--accounts") + 1] == str(config["accounts"])
    assert "--load-state" not in argv, "no state file yet: Anvil must start empty"
    (tmp_path / "state.json").write_text("{}")
    assert node.command()[-2:] == ["--load-state", str(tmp_path / "state.json")]


def test_first_key_derives_one_account() -> None:
    assert localnode.LocalNode().first_key == localnode.dev_accounts(1)[0].key.to_0x_hex()
    assert len(localnode.dev_accounts(2)) == 2
