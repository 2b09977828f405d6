"""Attacks on the registry (issue 10, items 5 and 6), each named after the attack.

Commit griefing runs on a real Anvil with two funded accounts: the attacker's copy of the victim's commitment
is sent first, with a ten times higher tip, and lands in the same block ahead of the victim's. Key-hash
squatting runs on the in-process EVM, and through the publish flow and the CLI for the user-facing message.
"""

from __future__ import annotations

import os
import time
import types
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from eth_account import Account
from typer.testing import CliRunner

from registry import backends as backendslib
from registry import chain as chainlib
from registry import publish as publish_flow
from registry.chain import abi, deployments, localnode
from registry.chain import registry as registry_module
from registry.cli import app
from registry.config import CHAIN_EMBEDDED, IPFS_EMBEDDED, Settings
from registry.errors import LedgermarkError
from tests.contracts.conftest import KEY_CID, MANIFEST_CID, expect_revert
from tests.registry.conftest import write_artifacts

SALT = b"\x5a" * 32
ATTACKER_TIP_FACTOR = 10


def _pending_count(chain: chainlib.Chain) -> int:
    return len(chain.request("eth_getBlockByNumber", ["pending", False])["transactions"])


def _send_copy_of_commit(attacker: chainlib.Chain, registry: str, commitment: bytes) -> str:
    """The attacker's own signed `commit(commitment)`, with a much higher tip than the node suggests."""
    tip = abi.to_int(attacker.request("eth_maxPriorityFeePerGas")) * ATTACKER_TIP_FACTOR
    base = abi.to_int(attacker.block("latest")["baseFeePerGas"])
    tx = {
        "chainId": attacker.chain_id,
        "nonce": attacker.pending_nonce(attacker.address),
        "to": registry,
        "data": "0x" + abi.encode_call("ModelRegistry", "commit", (commitment,)).hex(),
        "gas": 100_000,
        "maxPriorityFeePerGas": tip,
        "maxFeePerGas": 2 * base + tip,
        "type": 2,
    }
    signed = Account.sign_transaction(tx, attacker.account.key)
    return str(attacker.request("eth_sendRawTransaction", ["0x" + signed.raw_transaction.hex()]))


def test_a_copied_commit_neither_blocks_nor_steals_the_registration(
    anvil_node: localnode.AnvilNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = chainlib.Chain.connect(anvil_node.url, anvil_node.first_key)
    attacker = victim.with_account(anvil_node.accounts[1])
    address = deployments.deploy_registry(victim)
    registry = chainlib.ModelRegistryClient(victim, address)
    root, key_hash = os.urandom(32), chainlib.watermark_key_hash(KEY_CID)
    commitment = registry.compute_commitment(root, key_hash, SALT)
    # the salt the victim's publish draws; the attacker copies the commitment from the mempool
    monkeypatch.setattr(registry_module, "os", types.SimpleNamespace(urandom=lambda n: SALT))

    victim.request("evm_setAutomine", [False])
    try:
        copied = _send_copy_of_commit(attacker, address, commitment)
        with ThreadPoolExecutor(1) as pool:
            publishing = pool.submit(registry.publish, root, 3, MANIFEST_CID, key_hash, poll_interval_s=0.05)
            deadline = time.monotonic() + 30
            while _pending_count(victim) < 2 and not publishing.done() and time.monotonic() < deadline:
                time.sleep(0.05)
            victim.request("evm_mine", [])  # one block: both commits, the higher tip first
            victim.request("evm_setAutomine", [True])
            while not publishing.done() and time.monotonic() < deadline:
                if _pending_count(victim):
                    victim.request("evm_mine", [])
                time.sleep(0.05)
            record_id, _ = publishing.result(timeout=30)
    finally:
        victim.request("evm_setAutomine", [True])

    receipt = victim.request("eth_getTransactionReceipt", [copied])
    block = victim.block(abi.to_int(receipt["blockNumber"]))
    commit_block = registry.record(record_id).commit_block
    assert abi.to_int(receipt["status"]) == 1 and abi.to_int(receipt["transactionIndex"]) == 0
    assert abi.to_int(receipt["blockNumber"]) == commit_block and len(block["transactions"]) == 2
    rec = registry.record(record_id)
    assert rec.owner == victim.address and rec.root == root and rec.watermark_key_hash == key_hash
    # the copy is the attacker's own commitment, and it cannot reveal the victim's values
    assert registry.commitment_state(commitment, attacker.address) == commit_block
    assert registry.commitment_state(commitment) == 0  # the victim's was consumed
    expect_revert(
        "ModelRegistryCommitmentNotFound",
        lambda: registry.using(attacker).register(root, 3, MANIFEST_CID, key_hash, salt=SALT),
        chainlib.CommitmentError,
    )


def test_a_second_record_cannot_anchor_a_taken_key_hash(
    registry: chainlib.ModelRegistryClient,
    accounts: list[chainlib.Chain],
    chain: chainlib.Chain,
    publish: Callable[..., int],
) -> None:
    """A thief who learnt the owner's key hash (from the owner's `register`) anchors it in a record of theirs."""
    owned = publish()
    key_hash = chainlib.watermark_key_hash(KEY_CID)
    thief = registry.using(accounts[2])
    root = os.urandom(32)
    thief.commit(thief.compute_commitment(root, key_hash, SALT))
    chain.mine(2)
    err = expect_revert(
        "ModelRegistryWatermarkKeyTaken",
        lambda: thief.register(root, 3, MANIFEST_CID, key_hash, salt=SALT),
        chainlib.WatermarkKeyTakenError,
    )
    assert err.error_args == {"keyHash": key_hash, "recordId": owned}
    assert registry.record_of_key_hash(key_hash) == owned and registry.record_id_by_root(root) is None
    # the owner's own second record is refused too, before any transaction: a key anchors one record
    sent_before = chain.w3.eth.get_transaction_count(chain.address)
    with pytest.raises(chainlib.WatermarkKeyTakenError):
        registry.publish(os.urandom(32), 3, MANIFEST_CID, key_hash)
    assert chain.w3.eth.get_transaction_count(chain.address) == sent_before
    # keyless records never collide
    assert publish(key_cid=None) != publish(key_cid=None)
    assert registry.record_of_key_hash(chainlib.ZERO_HASH) is None


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_publishing_with_a_taken_watermark_key_is_refused_before_anything_is_stored(tmp_path: Path) -> None:
    key_hash = chainlib.watermark_key_hash(KEY_CID)
    settings = Settings(data_dir=tmp_path / "state", chain=CHAIN_EMBEDDED, ipfs=IPFS_EMBEDDED)
    with backendslib.open_backends(settings) as backends:
        first = publish_flow.publish(
            backends, write_artifacts(tmp_path / "a", seed=1), name="first", watermark_key_hash=key_hash
        )
        stored_before = _files(settings.data_dir)
        with pytest.raises(LedgermarkError, match=f"already anchored by record {first.record_id}"):
            publish_flow.publish(
                backends, write_artifacts(tmp_path / "b", seed=2), name="second", watermark_key_hash=key_hash
            )
        assert _files(settings.data_dir) == stored_before


def test_the_cli_names_the_record_that_owns_a_taken_watermark_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The embedded chain lives for one command, so record 7 owning the key is what the registry answers."""
    monkeypatch.setattr(chainlib.ModelRegistryClient, "record_of_key_hash", lambda self, key_hash: 7)
    key = tmp_path / "key.wmk"
    key.write_bytes(b"a watermark key")
    model = write_artifacts(tmp_path / "owner")[0].path
    argv = ["--data-dir", str(tmp_path / "state"), "--chain", "embedded", "publish", "--name", "m"]
    result = CliRunner().invoke(app, [*argv, "--watermark-key", str(key), f"{model}:model"])
    assert result.exit_code == 2, result.output
    assert "already anchored by record 7" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "key.wmk.datakey").exists()
