"""Reorganisations (Anvil's ``anvil_reorg``): a dropped registration is never final, and a waiting write notices.

A client at confirmations ≥ 1 reports a registration in the newest block as pending, never as final; once a
reorg drops that block, the record is unknown and its event gone from the confirmed index. A write that waits
for confirmations when its block is dropped sends the same transaction again and reports the new inclusion;
when another transaction took its nonce in the new branch, it fails saying so.
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest

from registry.chain import Chain, ModelRegistryClient, TxResult, localnode
from registry.chain.errors import ChainError, PendingRecordError, UnknownRecordError
from tests.registry.chain.test_nonces import deploy

pytestmark = pytest.mark.daemon


def _reorg(chain: Chain, depth: int, txs: list[Any] | None = None) -> None:
    chain.request("anvil_reorg", [depth, txs or []])


def _wait_mined(chain: Chain, nonce: int, timeout_s: float = 60) -> dict[str, Any]:
    """The latest block once it holds the sender's transaction with ``nonce`` (the write is waiting then)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if int(chain.request("eth_getTransactionCount", [chain.address, "latest"]), 16) > nonce:
            return chain.block("latest")
        time.sleep(0.02)
    raise AssertionError(f"nonce {nonce} was never mined")


def _mine_until_done(chain: Chain, future: Future[Any], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not future.done() and time.monotonic() < deadline:
        chain.mine()
        time.sleep(0.1)


def test_a_dropped_registration_is_pending_then_unknown(anvil_node: localnode.AnvilNode) -> None:
    deployment = deploy(anvil_node)
    writer = ModelRegistryClient(Chain.connect(anvil_node.url, anvil_node.first_key), deployment.registry)
    reader = ModelRegistryClient(Chain.connect(anvil_node.url, confirmations=1), deployment.registry)
    kept, _ = writer.publish(os.urandom(32), 1, "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o")
    writer.chain.mine(1)
    record_id, registered = writer.publish(
        os.urandom(32), 1, "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
    )
    assert registered.block_number == writer.chain.block_number(), "the registration is in the newest block"

    with pytest.raises(PendingRecordError):
        reader.record(record_id)  # never reported as final
    _reorg(writer.chain, 1)
    writer.chain.mine(2)

    with pytest.raises(UnknownRecordError) as caught:
        reader.record(record_id)
    assert not isinstance(caught.value, PendingRecordError), "gone from the chain, not waiting for blocks"
    assert reader.record(kept).manifest_cid == "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
    assert reader.record_count() == kept
    assert [e["args"]["recordId"] for e in reader.events("ModelRegistered")] == [kept]


def test_a_waiting_write_whose_block_is_dropped_is_sent_again(
    anvil_node: localnode.AnvilNode, caplog: pytest.LogCaptureFixture
) -> None:
    deployment = deploy(anvil_node)
    chain = Chain.connect(anvil_node.url, anvil_node.first_key, confirmations=2)
    registry = ModelRegistryClient(chain, deployment.registry)
    commitment = os.urandom(32)
    nonce = chain.pending_nonce(chain.address)

    with ThreadPoolExecutor(1) as pool, caplog.at_level(logging.WARNING, logger="registry.chain.signer"):
        waiting = pool.submit(registry.commit, commitment)
        first = _wait_mined(chain, nonce)
        _reorg(chain, 1)  # the commit's block is replaced by an empty one
        _mine_until_done(chain, waiting)
        result: TxResult = waiting.result(timeout=10)

    receipt = chain.request("eth_getTransactionReceipt", [result.tx_hash])
    assert f"transaction {result.tx_hash} was dropped by a reorganisation; sent again" in caplog.text
    assert receipt["blockHash"] != first["hash"], "included again, in another block"
    assert chain.block(result.block_number)["hash"] == receipt["blockHash"]
    assert chain.block_number() - result.block_number >= 2
    assert registry.commitment_state(commitment) == result.block_number


def test_a_dropped_write_whose_nonce_was_taken_fails_clearly(anvil_node: localnode.AnvilNode) -> None:
    deployment = deploy(anvil_node)
    chain = Chain.connect(anvil_node.url, anvil_node.first_key, confirmations=2)
    registry = ModelRegistryClient(chain, deployment.registry)
    nonce = chain.pending_nonce(chain.address)
    rival = {
        "to": chain.address,
        "value": 1,
        "gas": 21_000,
        "maxFeePerGas": 10**11,
        "maxPriorityFeePerGas": 10**9,
        "nonce": nonce,
        "chainId": chain.chain_id,
    }
    rival_raw = "0x" + bytes(chain.account.sign_transaction(rival).raw_transaction).hex()

    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(registry.commit, os.urandom(32))
        _wait_mined(chain, nonce)
        _reorg(chain, 1, [[rival_raw, 0]])  # the new branch holds another transaction with the same nonce
        _mine_until_done(chain, waiting)
        with pytest.raises(ChainError, match=f"its nonce {nonce} is now taken by another transaction"):
            waiting.result(timeout=10)
