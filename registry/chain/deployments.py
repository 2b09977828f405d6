"""Deploying the two contracts, and remembering where they live on each chain.

Addresses are remembered per chain, keyed by chain id and genesis hash (a reset dev chain is a new chain), so
a managed chain keeps its registry across commands. The deployment block is remembered too: event scans
(lineage, votes) start there instead of at block 0.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

from eth_utils import to_checksum_address

from registry.chain.abi import to_bytes
from registry.chain.connection import Chain
from registry.chain.errors import ChainError

log = logging.getLogger(__name__)

DEFAULT_MIN_COMMIT_AGE = 1
DEFAULT_MAX_COMMIT_AGE = 7200
# Dispute parameters for chains Ledgermark deploys itself (dev chains); real networks deploy deliberately.
DEV_DISPUTE_BOND_WEI = 10**17
DEV_DISPUTE_QUORUM = 1
DEV_DISPUTE_VOTING_PERIOD_S = 3 * 24 * 3600
# The dev treasury is the last of the ten dev accounts: never the admin (account 0), nor an arbiter of the demo.
DEV_TREASURY_INDEX = 9


@dataclasses.dataclass(frozen=True)
class Deployment:
    """Where the registry and its disputes contract live, and the block from which their events exist."""

    registry: str
    disputes: str
    block: int = 0


def deploy_registry(
    chain: Chain,
    *,
    min_commit_age: int = DEFAULT_MIN_COMMIT_AGE,
    max_commit_age: int = DEFAULT_MAX_COMMIT_AGE,
) -> str:
    """Deploy ``ModelRegistry`` and return its checksum address."""
    return chain.deploy("ModelRegistry", min_commit_age, max_commit_age)


def deploy_disputes(
    chain: Chain,
    registry: str,
    *,
    bond_wei: int,
    quorum: int,
    voting_period_s: int,
    admin: str | None = None,
    treasury: str | None = None,
) -> str:
    """Deploy ``OwnershipDisputes`` over ``registry``; ``admin`` (default: the signer) grants arbiters and
    ``treasury`` (another account; on a dev chain by default its last dev account) receives forfeited bonds."""
    admin = to_checksum_address(admin or chain.address)
    treasury = to_checksum_address(treasury or dev_treasury(chain))
    return chain.deploy(
        "OwnershipDisputes", to_checksum_address(registry), bond_wei, quorum, voting_period_s, admin, treasury
    )


def dev_treasury(chain: Chain) -> str:
    """A dev chain's treasury: a funded dev account that is not the deployer, so not the admin."""
    if not chain.is_dev_chain:
        raise ChainError(
            "deploying OwnershipDisputes on a public chain needs an explicit treasury address (not the admin)"
        )
    return chain.dev_accounts(DEV_TREASURY_INDEX + 1)[DEV_TREASURY_INDEX].address


def deploy_contracts(chain: Chain, book: DeploymentBook | None = None) -> Deployment:
    """Deploy the registry and its dispute contract with dev parameters; remember them in ``book`` when given."""
    block = chain.block_number() + 1  # the deployment is mined in this block or later: safe to scan from
    registry = deploy_registry(chain)
    disputes = deploy_disputes(
        chain,
        registry,
        bond_wei=DEV_DISPUTE_BOND_WEI,
        quorum=DEV_DISPUTE_QUORUM,
        voting_period_s=DEV_DISPUTE_VOTING_PERIOD_S,
    )
    log.info("deployed ModelRegistry at %s and OwnershipDisputes at %s", registry, disputes)
    deployment = Deployment(registry, disputes, block)
    if book is not None:
        book.remember(chain, deployment)
    return deployment


class DeploymentBook:
    """Contract addresses per chain, in a small JSON file of the data directory."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def lookup(self, chain: Chain) -> Deployment | None:
        entry = self._read().get(self._key(chain))
        if not entry:
            return None
        deployment = Deployment(entry["registry"], entry["disputes"], int(entry.get("block", 0)))
        if not chain.get_code(deployment.registry) or not chain.get_code(deployment.disputes):
            log.warning("remembered contracts on chain %s have no code; ignoring them", chain.chain_id)
            return None
        return deployment

    def remember(self, chain: Chain, deployment: Deployment) -> None:
        from registry import supervisor  # its atomic JSON write; only a deployment needs it

        book = self._read()
        book[self._key(chain)] = dataclasses.asdict(deployment)
        supervisor.write_json(self.path, book)

    def _read(self) -> dict[str, dict[str, str]]:
        if not self.path.exists():
            return {}
        return json.loads(self.path.read_text())

    @staticmethod
    def _key(chain: Chain) -> str:
        genesis = to_bytes(chain.block(0)["hash"])
        return f"{chain.chain_id}:{genesis.hex()}"
