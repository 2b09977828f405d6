"""Fees under a cap, and success only after the required confirmations (a real Anvil).

A cap below the base fee refuses before anything is sent (exit 2, naming --max-fee and both amounts); a cap
between the base fee and the default max fee is what the transaction offers. With confirmations N, a write
returns only once N blocks sit on its block, and reads at ``latest - N`` do not report a younger record.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry.chain import Chain, ModelRegistryClient, localnode, signer
from registry.chain.errors import ChainError, PendingRecordError, format_gwei
from tests.registry.chain.test_nonces import cli_env, deploy, small_file

pytestmark = pytest.mark.daemon


def _next_base_fee(chain: Chain) -> int:
    return int(chain.request("eth_feeHistory", ["0x1", "latest", []])["baseFeePerGas"][-1], 16)


def _cli(node: localnode.LocalNode, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "registry", "--chain", node.url, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.fixture
def miner(anvil_node: localnode.AnvilNode) -> Iterator[None]:
    """A block every 0.3 s while the test runs, as a live chain makes them."""
    stop = threading.Event()
    chain = Chain.connect(anvil_node.url)

    def mine() -> None:
        while not stop.wait(0.3):
            chain.mine()

    thread = threading.Thread(target=mine, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=10)


def test_a_cap_below_the_base_fee_refuses_before_sending(
    anvil_node: localnode.AnvilNode, tmp_path: Path
) -> None:
    deployment = deploy(anvil_node)
    chain = Chain.connect(anvil_node.url, anvil_node.first_key)
    nonce_before, base_fee = chain.pending_nonce(chain.address), _next_base_fee(chain)
    env = cli_env(anvil_node, tmp_path / "home", deployment)

    done = _cli(anvil_node, env, "--max-fee", "0.0001", "publish", f"{small_file(tmp_path, 1)}:model")

    assert done.returncode == 2, done.stderr
    assert "--max-fee" in done.stderr and "LEDGERMARK_MAX_FEE" in done.stderr
    assert f"base fee is {format_gwei(base_fee)} gwei" in done.stderr
    assert "fee cap of 0.0001 gwei" in done.stderr
    assert "Traceback" not in done.stderr
    assert chain.pending_nonce(chain.address) == nonce_before, "nothing may be sent"


def test_a_cap_above_the_base_fee_is_the_offered_max_fee(anvil_node: localnode.AnvilNode) -> None:
    probe = Chain.connect(anvil_node.url, anvil_node.first_key)
    registry_address = deploy(anvil_node).registry
    cap = _next_base_fee(probe) * 3 // 2  # below 2 × base + tip, the uncapped offer
    chain = Chain.connect(anvil_node.url, anvil_node.first_key, max_fee_wei=cap)

    result = ModelRegistryClient(chain, registry_address).commit(os.urandom(32))

    sent = chain.request("eth_getTransactionByHash", [result.tx_hash])
    assert int(sent["maxFeePerGas"], 16) == cap
    assert int(sent["maxPriorityFeePerGas"], 16) <= cap


@pytest.mark.usefixtures("miner")
def test_publish_returns_only_after_the_required_confirmations(
    anvil_node: localnode.AnvilNode, tmp_path: Path
) -> None:
    deployment = deploy(anvil_node)
    chain = Chain.connect(anvil_node.url)
    env = cli_env(anvil_node, tmp_path / "home", deployment)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "registry",
            "--chain",
            anvil_node.url,
            "--confirmations",
            "3",
            "publish",
            "--json",
        ]
        + [f"{small_file(tmp_path, 2)}:model"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    while proc.poll() is None:
        time.sleep(0.02)
    latest_at_exit = chain.block_number()
    out, err = proc.communicate()

    assert proc.returncode == 0, err
    receipt = chain.request("eth_getTransactionReceipt", [json.loads(out)["tx_hash"]])
    assert latest_at_exit - int(receipt["blockNumber"], 16) >= 3


def test_a_record_younger_than_the_confirmations_is_not_shown(
    anvil_node: localnode.AnvilNode, tmp_path: Path
) -> None:
    deployment = deploy(anvil_node)
    env = cli_env(anvil_node, tmp_path / "home", deployment)
    published = _cli(
        anvil_node, env, "--confirmations", "0", "publish", "--json", f"{small_file(tmp_path, 3)}:model"
    )
    assert published.returncode == 0, published.stderr
    record_id = str(json.loads(published.stdout)["record_id"])
    chain = Chain.connect(anvil_node.url, confirmations=3)
    registry = ModelRegistryClient(chain, deployment.registry)

    with pytest.raises(PendingRecordError, match="has 0 of the 3 confirmations required"):
        registry.record(int(record_id))
    early = _cli(anvil_node, env, "--confirmations", "3", "show", record_id, "--json")
    chain.mine(3)
    final = _cli(anvil_node, env, "--confirmations", "3", "show", record_id, "--json")

    assert early.returncode == 2, early.stderr
    assert f"record {record_id}" in early.stderr and "has 0 of the 3 confirmations required" in early.stderr
    assert final.returncode == 0, final.stderr
    assert json.loads(final.stdout)["record_id"] == int(record_id)
    assert registry.record(int(record_id)).record_id == int(record_id)


def test_a_receipt_without_its_confirmations_times_out_naming_the_hash(
    anvil_node: localnode.AnvilNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry_address = deploy(anvil_node).registry
    chain = Chain.connect(anvil_node.url, anvil_node.first_key, confirmations=5)
    monkeypatch.setattr(signer, "RECEIPT_TIMEOUT_S", 0.5)
    monkeypatch.setattr(signer, "CONFIRMATION_TIMEOUT_S", 0.1)

    with pytest.raises(ChainError) as caught:
        ModelRegistryClient(chain, registry_address).commit(os.urandom(32))

    assert re.search(
        r"transaction 0x[0-9a-f]{64} is in block 0x[0-9a-f]{64} without 5 confirmations", str(caught.value)
    )
