"""Open the content store and the chain that a set of Settings names, and close them again.

Everything a flow needs arrives in one ``Backends`` value, so publish/fetch/verify never care whether they run
on the embedded defaults or on real daemons. Deployed contract addresses are remembered per chain (keyed by
chain id and genesis hash) in the data dir, so a managed chain keeps its registry across commands.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider

from ipfs.embedded import EmbeddedStore
from ipfs.kubo import KuboStore
from ipfs.store import ContentStore
from registry import chain as chainlib
from registry import devchain
from registry.config import CHAIN_EMBEDDED, CHAIN_LOCAL, IPFS_EMBEDDED, ConfigError, Settings

log = logging.getLogger(__name__)

# Dispute parameters for chains Ledgermark deploys itself (dev chains); real networks deploy deliberately.
DEV_DISPUTE_BOND_WEI = 10**17
DEV_DISPUTE_QUORUM = 1
DEV_DISPUTE_VOTING_PERIOD_S = 3 * 24 * 3600


@dataclasses.dataclass
class Backends:
    settings: Settings
    store: ContentStore
    chain: chainlib.Chain
    registry: chainlib.ModelRegistryClient
    disputes: chainlib.OwnershipDisputesClient

    def describe(self) -> dict[str, str]:
        return {
            "chain": f"{self.settings.chain} (chain id {self.chain.chain_id})",
            "registry": self.registry.address,
            "ipfs": self.store.describe(),
        }


@contextlib.contextmanager
def open_backends(settings: Settings, *, deploy_if_missing: bool | None = None) -> Iterator[Backends]:
    """Yield connected backends; whatever was started here is stopped on exit.

    ``deploy_if_missing`` defaults to True on chains Ledgermark runs itself (local, embedded) and False on a
    URL, where deploying contracts is a deliberate act (``ledgermark chain deploy``).
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        store = stack.enter_context(_open_store(settings))
        chain = stack.enter_context(_open_chain(settings))
        if deploy_if_missing is None:
            deploy_if_missing = settings.chain in (CHAIN_LOCAL, CHAIN_EMBEDDED)
        registry_address, disputes_address = _contract_addresses(settings, chain, deploy_if_missing)
        yield Backends(
            settings=settings,
            store=store,
            chain=chain,
            registry=chainlib.ModelRegistryClient(chain, registry_address),
            disputes=chainlib.OwnershipDisputesClient(chain, disputes_address),
        )


@contextlib.contextmanager
def _open_store(settings: Settings) -> Iterator[ContentStore]:
    store: ContentStore
    if settings.ipfs == IPFS_EMBEDDED:
        store = EmbeddedStore(settings.blocks_dir)
    else:
        store = KuboStore(settings.ipfs)
    with store:
        yield store


@contextlib.contextmanager
def _open_chain(settings: Settings) -> Iterator[chainlib.Chain]:
    if settings.chain == CHAIN_EMBEDDED:
        yield chainlib.Chain.connect(EthereumTesterProvider(), settings.private_key)
    elif settings.chain == CHAIN_LOCAL:
        with _managed_ganache(settings.chain_dir) as (url, dev_key):
            yield chainlib.Chain.connect(
                Web3.HTTPProvider(url, request_kwargs={"timeout": 30}), settings.private_key or dev_key
            )
    else:
        if not settings.private_key:
            raise ConfigError(
                f"chain {settings.chain} needs a signing key: set LEDGERMARK_PRIVATE_KEY to the account's hex key"
            )
        yield chainlib.Chain.connect(
            Web3.HTTPProvider(settings.chain, request_kwargs={"timeout": 30}), settings.private_key
        )


@contextlib.contextmanager
def _managed_ganache(chain_dir: Path) -> Iterator[tuple[str, str]]:
    """Reuse the data dir's Ganache if one is running (``ledgermark chain start``), else run one for this command.

    A lock file serialises commands on the same data dir: Ganache's database admits one process at a time.
    """
    chain_dir.mkdir(parents=True, exist_ok=True)
    with open(chain_dir / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        running = devchain.GanacheNode.find_running(chain_dir)
        if running is not None:
            yield running.url, running.private_keys[0]
            return
        node = devchain.GanacheNode.managed(chain_dir)
        with node:
            yield node.url, node.private_keys[0]


def _contract_addresses(
    settings: Settings, chain: chainlib.Chain, deploy_if_missing: bool
) -> tuple[str, str]:
    if settings.registry_address and settings.disputes_address:
        return settings.registry_address, settings.disputes_address
    book = DeploymentBook(settings.data_dir / "deployments.json")
    known = book.lookup(chain)
    if known is not None:
        return known
    if not deploy_if_missing:
        raise ConfigError(
            f"no Ledgermark contracts are known on chain {chain.chain_id}: run `ledgermark chain deploy` "
            "or set LEDGERMARK_REGISTRY_ADDRESS and LEDGERMARK_DISPUTES_ADDRESS"
        )
    return deploy_contracts(chain, book if settings.chain != CHAIN_EMBEDDED else None)


def deploy_contracts(chain: chainlib.Chain, book: DeploymentBook | None) -> tuple[str, str]:
    """Deploy the registry and its dispute contract; remember them in ``book`` when given."""
    registry = chain.deploy_registry()
    disputes = chain.deploy_disputes(
        registry,
        bond_wei=DEV_DISPUTE_BOND_WEI,
        quorum=DEV_DISPUTE_QUORUM,
        voting_period_s=DEV_DISPUTE_VOTING_PERIOD_S,
    )
    log.info("deployed ModelRegistry at %s and OwnershipDisputes at %s", registry, disputes)
    if book is not None:
        book.remember(chain, registry, disputes)
    return registry, disputes


class DeploymentBook:
    """Contract addresses per chain, keyed by chain id and genesis hash (a reset dev chain is a new chain)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def lookup(self, chain: chainlib.Chain) -> tuple[str, str] | None:
        entry = self._read().get(self._key(chain))
        if not entry:
            return None
        registry, disputes = entry["registry"], entry["disputes"]
        if not chain.w3.eth.get_code(registry) or not chain.w3.eth.get_code(disputes):
            log.warning("remembered contracts on chain %s have no code; ignoring them", chain.chain_id)
            return None
        return registry, disputes

    def remember(self, chain: chainlib.Chain, registry: str, disputes: str) -> None:
        book = self._read()
        book[self._key(chain)] = {"registry": registry, "disputes": disputes}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(book, indent=2, sort_keys=True))
        os.replace(tmp, self.path)

    def _read(self) -> dict[str, dict[str, str]]:
        if not self.path.exists():
            return {}
        return json.loads(self.path.read_text())

    @staticmethod
    def _key(chain: chainlib.Chain) -> str:
        genesis = chain.w3.eth.get_block(0)["hash"]
        return f"{chain.chain_id}:{bytes(genesis).hex()}"


# --------------------------------------------------------------------------- `ledgermark chain …`


def start_managed_chain(settings: Settings) -> devchain.LocalNode:
    """Start the data dir's Ganache in the background, or return the one already running."""
    _require_local(settings)
    settings.chain_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.chain_dir / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return (
            devchain.GanacheNode.find_running(settings.chain_dir)
            or devchain.GanacheNode.managed(settings.chain_dir).start()
        )


def stop_managed_chain(settings: Settings) -> int | None:
    """Stop the data dir's background Ganache by process id; returns that pid, or None if none ran."""
    _require_local(settings)
    node = devchain.GanacheNode.find_running(settings.chain_dir)
    if node is None:
        return None
    pid = node.pid
    node.stop()
    return pid


def deploy_on(settings: Settings, *, force: bool = False) -> tuple[str, str]:
    """Deploy (or, unless forced, look up) the contracts on the configured chain and remember them."""
    with _open_chain(settings) as chain:
        book = DeploymentBook(settings.data_dir / "deployments.json")
        known = None if force else book.lookup(chain)
        return known or deploy_contracts(chain, book)


def _require_local(settings: Settings) -> None:
    if settings.chain != CHAIN_LOCAL:
        raise ConfigError(
            f"`ledgermark chain start/stop` manage the local chain only, not {settings.chain!r}"
        )
