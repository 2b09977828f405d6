"""Contracts on the in-process EVM (eth-tester): one fresh chain per test, so time travel never leaks."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from web3 import EthereumTesterProvider

from registry import chain as chainlib
from registry.chain import deployments

BOND = 10**17
QUORUM = 2
VOTING_PERIOD = 3600
KEY_CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
MANIFEST_CID = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"  # stored as digest + codec tag
DATA_KEY = bytes(range(1, 33))  # opens the (notional) sealed key; the contract only stores it


@pytest.fixture
def chain() -> chainlib.Chain:
    return chainlib.Chain.connect(EthereumTesterProvider())


@pytest.fixture
def accounts(chain: chainlib.Chain) -> list[chainlib.Chain]:
    """One signer per dev account (index 0 is the deployer/admin)."""
    return [chain.with_account(a) for a in chain.dev_accounts()[:8]]


@pytest.fixture
def registry(chain: chainlib.Chain) -> chainlib.ModelRegistryClient:
    return chainlib.ModelRegistryClient(
        chain, deployments.deploy_registry(chain, min_commit_age=2, max_commit_age=10)
    )


@pytest.fixture
def disputes(
    chain: chainlib.Chain, registry: chainlib.ModelRegistryClient
) -> chainlib.OwnershipDisputesClient:
    address = deployments.deploy_disputes(
        chain, registry.address, bond_wei=BOND, quorum=QUORUM, voting_period_s=VOTING_PERIOD
    )
    return chainlib.OwnershipDisputesClient(chain, address)


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
            root or os.urandom(32), leaf_count, MANIFEST_CID, key_hash, parent_id, derivation
        )
        return record_id

    return _publish


def expect_revert(
    name: str,
    fn: Callable[[], object],
    cls: type[chainlib.ContractRevertError] = chainlib.ContractRevertError,
) -> chainlib.ContractRevertError:
    """Run ``fn`` and require it to revert with the custom error ``name`` (as an instance of ``cls``)."""
    with pytest.raises(cls) as info:
        fn()
    assert info.value.name == name, str(info.value)
    return info.value
