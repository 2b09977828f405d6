"""One key, many senders: the nonce manager serialises an account's transactions across threads and processes.

Against a real Anvil: 50 publishes from threads of one process and 10 `ledgermark publish` processes, all with
one key, land with distinct record ids; a node whose pending count lags is corrected by "nonce too low"
retries; a sender waiting on the lock more than 2 s names the holder's pid.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from registry import backends as backendslib
from registry import publish as publish_flow
from registry.chain import Chain, deployments, localnode, nonces
from registry.config import IPFS_EMBEDDED, Settings

pytestmark = pytest.mark.daemon


def deploy(node: localnode.LocalNode) -> deployments.Deployment:
    """The contracts on ``node``, deployed by dev account 0."""
    return deployments.deploy_contracts(Chain.connect(node.url, node.first_key))


def node_settings(
    node: localnode.LocalNode, home: Path, deployment: deployments.Deployment, **changes: object
) -> Settings:
    """Settings a user would give for a chain that is not Ledgermark's: its URL, a key, the addresses."""
    base = Settings(
        data_dir=home,
        chain=node.url,
        ipfs=IPFS_EMBEDDED,
        private_key=node.first_key,
        registry_address=deployment.registry,
        disputes_address=deployment.disputes,
    )
    return base.with_(**changes)


def cli_env(node: localnode.LocalNode, home: Path, deployment: deployments.Deployment) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERMARK_")}
    return {
        **env,
        "LEDGERMARK_HOME": str(home),
        "LEDGERMARK_PRIVATE_KEY": node.first_key,
        "LEDGERMARK_REGISTRY_ADDRESS": deployment.registry,
        "LEDGERMARK_DISPUTES_ADDRESS": deployment.disputes,
    }


def small_file(folder: Path, seed: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"model-{seed}.bin"
    path.write_bytes(f"model {seed} ".encode() * 50)
    return path


def test_fifty_threads_publishing_with_one_key_all_land(
    anvil_node: localnode.AnvilNode, tmp_path: Path
) -> None:
    deployment = deploy(anvil_node)
    settings = node_settings(anvil_node, tmp_path / "home", deployment)
    files = [small_file(tmp_path / "files", i) for i in range(50)]
    chain = Chain.connect(anvil_node.url, anvil_node.first_key)
    first = chain.pending_nonce(chain.address)

    def publish(path: Path) -> int:
        with backendslib.open_backends(settings) as opened:
            artifact = publish_flow.Artifact(path, role="model")
            return publish_flow.publish(opened, [artifact], name=path.name).record_id

    with ThreadPoolExecutor(max_workers=50) as pool:
        record_ids = list(pool.map(publish, files))

    assert sorted(record_ids) == list(range(1, 51))
    assert chain.pending_nonce(chain.address) == first + 100, "one commit and one register each, no gap"
    lock = tmp_path / "home" / "nonces" / f"{chain.chain_id}-{chain.address.lower()}.lock"
    assert f"last {first + 99} " in lock.read_text()


def test_ten_cli_processes_with_one_key_all_exit_zero(
    anvil_node: localnode.AnvilNode, tmp_path: Path
) -> None:
    deployment = deploy(anvil_node)
    env = cli_env(anvil_node, tmp_path / "home", deployment)
    command = [sys.executable, "-m", "registry", "--chain", anvil_node.url, "publish", "--json"]
    procs = [
        subprocess.Popen(
            [*command, f"{small_file(tmp_path / 'files', i)}:model"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(10)
    ]
    outputs = [proc.communicate(timeout=300) for proc in procs]

    for proc, (_, err) in zip(procs, outputs):
        assert proc.returncode == 0, err
    record_ids = [json.loads(out)["record_id"] for out, _ in outputs]
    assert sorted(record_ids) == list(range(1, 11))


def test_a_lagging_pending_count_is_corrected_by_nonce_too_low_retries(
    anvil_node: localnode.AnvilNode,
) -> None:
    """A node (or load balancer) that always answers pending = 0: the manager still finds the free nonce."""
    chain = Chain.connect(anvil_node.url, anvil_node.first_key)
    manager = nonces.NonceManager(chain.chain_id, chain.address, lambda: 0)
    for _ in range(3):  # nonces 0, 1, 2 taken by a sender that bypasses the manager
        _self_transfer(chain, chain.pending_nonce(chain.address))

    nonce, _ = manager.send(lambda n: _self_transfer(chain, n))

    assert nonce == 3
    assert chain.pending_nonce(chain.address) == 4


def test_refusals_beyond_the_bound_are_a_chain_error(anvil_node: localnode.AnvilNode) -> None:
    chain = Chain.connect(anvil_node.url, anvil_node.first_key)
    for _ in range(nonces.MAX_SEND_ATTEMPTS + 1):
        _self_transfer(chain, chain.pending_nonce(chain.address))
    manager = nonces.NonceManager(chain.chain_id, chain.address, lambda: 0)
    with pytest.raises(nonces.NonceError, match="refused 6 nonces in a row"):
        manager.send(lambda n: _self_transfer(chain, n))


def test_a_wait_over_two_seconds_names_the_holder(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    address = "0x" + "ab" * 20
    holder = nonces.NonceManager(1, address, lambda: 0, tmp_path)
    waiter = nonces.NonceManager(1, address, lambda: 0, tmp_path)
    entered = threading.Event()

    def hold(nonce: int) -> int:
        entered.set()
        time.sleep(nonces.LOCK_NOTICE_S + 0.5)
        return nonce

    thread = threading.Thread(target=holder.send, args=(hold,))
    thread.start()
    entered.wait(10)
    assert f"pid {os.getpid()}" in (tmp_path / f"1-{address}.lock").read_text()
    with caplog.at_level(logging.WARNING, logger="registry.chain.nonces"):
        nonce, _ = waiter.send(lambda n: n)
    thread.join()

    assert nonce == 1, "the waiter takes the nonce after the holder's"
    assert f"held by thread {thread.name} of pid {os.getpid()}" in caplog.text


def test_the_lock_file_names_the_holder_to_another_process(tmp_path: Path) -> None:
    """A second process waits on the file lock and logs the pid written by the first."""
    address = "0x" + "cd" * 20
    manager = nonces.NonceManager(7, address, lambda: 0, tmp_path)
    script = (
        "import logging, sys; logging.basicConfig(level=logging.WARNING);"
        "from registry.chain import nonces;"
        f"m = nonces.NonceManager(7, {address!r}, lambda: 0, {str(tmp_path)!r});"
        f"open({str(tmp_path / 'ready')!r}, 'w').close();"
        "print(m.send(lambda n: n)[0])"
    )
    started: list[subprocess.Popen[str]] = []

    def hold(nonce: int) -> int:
        started.append(
            subprocess.Popen(
                [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
        deadline = time.monotonic() + 60
        while not (tmp_path / "ready").exists() and time.monotonic() < deadline:
            time.sleep(0.05)  # the child imports, then waits on the lock
        time.sleep(nonces.LOCK_NOTICE_S + 1)
        return nonce

    manager.send(hold)
    out, err = started[0].communicate(timeout=60)

    assert out.strip() == "1", err
    assert f"held by pid {os.getpid()}" in err


@pytest.mark.parametrize(("memory_s", "expected"), [(nonces.MEMORY_S, 6), (0.0, 2)])
def test_a_remembered_nonce_outranks_the_node_only_while_trusted(
    tmp_path: Path, memory_s: float, expected: int
) -> None:
    """Another process sent nonce 5 a moment ago; the node says 2 (lagging, or restarted without them)."""
    address = "0x" + "ef" * 20
    (tmp_path / f"3-{address}.lock").write_text(f"pid 1: ledgermark publish\nlast 5 {time.time():.3f}\n")
    manager = nonces.NonceManager(3, address, lambda: 2, tmp_path, memory_s=memory_s)

    nonce, _ = manager.send(lambda n: n)

    assert nonce == expected


def test_a_dev_chain_trusts_its_node_s_pending_count(anvil_node: localnode.AnvilNode, tmp_path: Path) -> None:
    """Anvil restarted from its state file may have lost a sent transaction: no remembered nonce on dev chains."""
    chain = Chain.connect(anvil_node.url, anvil_node.first_key, nonce_dir=tmp_path)
    assert chain.nonces.memory_s == 0
    assert chain.nonces.lock_path == tmp_path / f"{chain.chain_id}-{chain.address.lower()}.lock"


def _self_transfer(chain: Chain, nonce: int) -> str:
    """Send 1 wei to ourselves with ``nonce``, bypassing the manager (another sender of the same key)."""
    tx = {
        "to": chain.address,
        "value": 1,
        "gas": 21_000,
        "maxFeePerGas": 10**10,
        "maxPriorityFeePerGas": 10**9,
        "nonce": nonce,
        "chainId": chain.chain_id,
    }
    raw = chain.account.sign_transaction(tx).raw_transaction
    return str(chain.request("eth_sendRawTransaction", ["0x" + bytes(raw).hex()]))
