"""Contracts on the in-process EVM (eth-tester): one fresh chain per test, so time travel never leaks."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from web3 import EthereumTesterProvider

from registry import chain as chainlib
from verifier import merkle

BOND = 10**17
QUORUM = 2
VOTING_PERIOD = 3600
KEY_CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"


@pytest.fixture
def chain() -> chainlib.Chain:
    return chainlib.Chain.connect(EthereumTesterProvider())


@pytest.fixture
def accounts(chain: chainlib.Chain) -> list[chainlib.Chain]:
    """One signer per dev account (index 0 is the deployer/admin)."""
    return [chain.with_account(a) for a in chain.dev_accounts()[:8]]


@pytest.fixture
def registry(chain: chainlib.Chain) -> chainlib.ModelRegistryClient:
    return chainlib.ModelRegistryClient(chain, chain.deploy_registry(min_commit_age=2, max_commit_age=10))


@pytest.fixture
def disputes(chain: chainlib.Chain, registry: chainlib.ModelRegistryClient) -> chainlib.OwnershipDisputesClient:
    address = chain.deploy_disputes(registry.address, bond_wei=BOND, quorum=QUORUM, voting_period_s=VOTING_PERIOD)
    return chainlib.OwnershipDisputesClient(chain, address)


def leaves_for(n: int, seed: int = 0) -> list[bytes]:
    """``n`` distinct manifest leaves built the real way."""
    return [
        merkle.leaf_hash("model", f"m{seed}/file{i:03d}.bin", i, bytes([i % 256, seed % 256]) * 16, b"\x01\x55" + bytes(34))
        for i in range(n)
    ]


@pytest.fixture
def publish(registry: chainlib.ModelRegistryClient) -> Callable[..., int]:
    """Publish a fresh model (random root unless given) and return its record id."""

    def _publish(
        client: chainlib.ModelRegistryClient | None = None,
        *,
        root: bytes | None = None,
        key_cid: str | None = KEY_CID,
        parent_id: int = 0,
        derivation: chainlib.Derivation = chainlib.Derivation.NONE,
        leaf_count: int = 3,
    ) -> int:
        client = client or registry
        key_hash = chainlib.watermark_key_hash(key_cid) if key_cid else chainlib.ZERO_HASH
        record_id, _ = client.publish(
            root or os.urandom(32), leaf_count, "bafymanifest", key_hash, parent_id, derivation
        )
        return record_id

    return _publish
