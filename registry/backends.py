"""The composition root: open the content store and the chain that a set of Settings names, and close them.

Everything a flow needs arrives in one ``Backends`` value, so publish/fetch/dispute never care whether they run
on the embedded defaults or on real daemons. The IPFS client is imported only when a command opens backends;
chain reads go through a plain JSON-RPC transport, and web3 and eth-account are imported, and the signing key
derived, only when a command sends a transaction (``registry.chain.connection``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry.config import CHAIN_EMBEDDED, CHAIN_LOCAL, IPFS_EMBEDDED, Settings
from registry.errors import ConfigError

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from ipfs.store import ContentStore
    from registry import chain as chainlib
    from registry.chain import deployments, localnode
    from registry.chain.rpc import Transport


class NoSignerError(ConfigError):
    """A transaction was asked of a chain on which no signer is configured."""


@dataclasses.dataclass
class Backends:
    settings: Settings
    store: ContentStore
    chain: chainlib.Chain
    registry: chainlib.ModelRegistryClient
    disputes: chainlib.OwnershipDisputesClient

    def signed_by(self, account: LocalAccount) -> Backends:
        """The same connections, another signer: an arbiter or a thief in the demo and tests."""
        chain = self.chain.with_account(account)
        return dataclasses.replace(
            self, chain=chain, registry=self.registry.using(chain), disputes=self.disputes.using(chain)
        )

    def signer_address(self) -> str | None:
        """The signing address, or None where no signer is configured: a read-only command never demands one."""
        try:
            return self.chain.address
        except NoSignerError:
            return None

    def describe(self) -> dict[str, str]:
        return {
            "chain": f"{self.settings.chain} (chain id {self.chain.chain_id})",
            "registry": self.registry.address,
            "ipfs": self.store.describe(),
        }


@contextlib.contextmanager
def open_backends(
    settings: Settings, *, deploy_if_missing: bool | None = None, long_lived: bool = False
) -> Iterator[Backends]:
    """Yield connected backends; whatever was started here is stopped on exit.

    ``deploy_if_missing`` defaults to True on chains Ledgermark runs itself (local, embedded) and False on a
    URL, where deploying contracts is a deliberate act (``ledgermark chain deploy``). ``long_lived`` (the
    service) shares the managed local node with other commands instead of holding it for its whole life.
    """
    from registry import chain as chainlib

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        store = stack.enter_context(open_store(settings))
        chain = stack.enter_context(open_chain(settings, long_lived=long_lived))
        if deploy_if_missing is None:
            deploy_if_missing = settings.chain in (CHAIN_LOCAL, CHAIN_EMBEDDED)
        deployment = _deployment(settings, chain, deploy_if_missing)
        yield Backends(
            settings=settings,
            store=store,
            chain=chain,
            registry=chainlib.ModelRegistryClient(chain, deployment.registry, deployed_at=deployment.block),
            disputes=chainlib.OwnershipDisputesClient(
                chain, deployment.disputes, deployed_at=deployment.block
            ),
        )


@contextlib.contextmanager
def open_store(settings: Settings) -> Iterator[ContentStore]:
    """The configured content store, closed on exit; Kubo read nodes, then gateways, back its reads in order."""
    store: ContentStore
    if settings.ipfs == IPFS_EMBEDDED:
        from ipfs.embedded import EmbeddedStore

        store = EmbeddedStore(settings.blocks_dir)
    else:
        from ipfs.kubo import KuboStore

        store = KuboStore(settings.ipfs)
    if settings.gateways or settings.kubo_nodes:
        from ipfs.gateway import GatewayStore
        from ipfs.kubo import KuboStore
        from ipfs.sources import SourceChain

        kubo = [KuboStore(addr) for addr in settings.kubo_nodes]  # a network profile's content.kubo
        store = SourceChain(store, [*kubo, *(GatewayStore(url) for url in settings.gateways)])
    with store:
        yield store


@contextlib.contextmanager
def open_chain(settings: Settings, *, long_lived: bool = False) -> Iterator[chainlib.Chain]:
    """A connection with the configured signer: the in-process EVM, the managed local chain, or a URL.

    The signer is chosen, and a key derived or decrypted, at the first transaction (``_Signer``), so reads
    never pay for it and need no key at all, on any chain.
    """
    from registry import chain as chainlib

    if settings.chain == CHAIN_EMBEDDED:
        from web3.providers.eth_tester import EthereumTesterProvider

        signer = _Signer(settings)
        yield signer.attach(chainlib.Chain.connect(EthereumTesterProvider(), signer, **_policy(settings)))
    elif settings.chain == CHAIN_LOCAL:
        with _managed_node(settings.chain_dir, long_lived=long_lived) as (transport, dev_key):
            signer = _Signer(settings, dev_key)
            yield signer.attach(chainlib.Chain.connect(transport, signer, **_policy(settings)))
    else:
        from registry.chain.rpc import HttpTransport

        signer = _Signer(settings)
        transport = HttpTransport(settings.chain, timeout_s=30)
        yield signer.attach(chainlib.Chain.connect(transport, signer, **_policy(settings)))


def _policy(settings: Settings) -> dict[str, Any]:
    """The chain's keyword arguments from the settings: confirmations, fee cap (gwei → wei), nonce locks."""
    fee_cap = settings.max_fee_gwei
    return {
        "confirmations": settings.confirmations,
        "max_fee_wei": None if fee_cap is None else int(fee_cap * 10**9),
        "nonce_dir": settings.data_dir / "nonces",
    }


class _Signer:
    """The key a command signs with, chosen at its first write, in this order: ``LEDGERMARK_PRIVATE_KEY``,
    ``--keystore FILE`` (decrypted only then), ``--account N`` (development chains only), the dev account 0
    of a local or embedded chain. A chain that is not ours has no default: a read-only command must never
    need a key, and a write must never fall back to an account nobody chose.
    """

    def __init__(self, settings: Settings, dev_key: Callable[[], str] | None = None) -> None:
        self.settings = settings
        self.dev_key = dev_key
        self.chain: chainlib.Chain | None = None

    def attach(self, chain: chainlib.Chain) -> chainlib.Chain:
        """Remember the connection: ``--account`` asks it which client it is and for its dev keys."""
        self.chain = chain
        return chain

    def __call__(self) -> str | bytes | None:
        settings = self.settings
        if settings.private_key:
            return settings.private_key
        if settings.keystore is not None:
            from registry import accounts

            return accounts.unlock(settings.keystore, settings.keystore_password)
        if settings.account_index is not None:
            return self._dev_key(settings.account_index)
        if self.dev_key is not None:
            return self.dev_key()
        if settings.chain == CHAIN_EMBEDDED:
            return None  # eth-tester's first funded account
        raise NoSignerError(
            f"chain {settings.chain} needs a signing key to send a transaction: set LEDGERMARK_PRIVATE_KEY, "
            "pass --keystore FILE (`ledgermark account new` or `account import`), or --account N on a "
            "development chain"
        )

    def _dev_key(self, index: int) -> bytes:
        """Funded dev account ``index``: only on chains whose keys are public anyway (Anvil, Ganache, eth-tester)."""
        from registry import accounts

        chain, source = self.chain, self.settings.source("account_index")
        assert chain is not None, "attach() is called before any transaction"
        if self.settings.chain not in (CHAIN_LOCAL, CHAIN_EMBEDDED):
            accounts.require_dev_client(chain, source)
        keys = chain.dev_accounts(index + 1)
        if index >= len(keys) or chain.balance(keys[index].address) == 0:
            raise ConfigError(f"{source} {index}: chain {chain.chain_id} has no funded dev account {index}")
        return bytes(keys[index].key)


@contextlib.contextmanager
def _managed_node(
    chain_dir: Path, *, long_lived: bool = False
) -> Iterator[tuple[Transport, Callable[[], str]]]:
    """A transport to the data dir's chain: a node already running (`chain start`, or a service's), else one
    started for this command.

    The default node (Anvil) keeps its state in ``chain_dir``; the transport saves it on every receipt of a new
    block, so what a command reports is on disk. A per-command node dies with this process, even on SIGKILL.
    The lock guards starting a node and the life of a per-command one (two of those would share one state
    file); a running node serves any number of commands at once, so using it holds no lock, and a long-lived
    process (the service) releases the lock once its node is up. The dev key comes as a function: deriving it
    imports eth-account, which only a transaction needs.
    """
    from registry.chain import localnode

    node_class = localnode.default_node_class()
    with contextlib.ExitStack() as own:
        release = own.enter_context(_chain_lock(chain_dir))
        node = node_class.find_running(chain_dir)
        if node is None:
            node = own.enter_context(node_class.managed(chain_dir, die_with_parent=True))
            if long_lived:
                release()
        else:
            release()
        transport = node.transport()
        yield transport, lambda: node.first_key
        _flush(transport)


@contextlib.contextmanager
def _chain_lock(chain_dir: Path) -> Iterator[Callable[[], None]]:
    """Hold the data dir's chain lock until exit or until the yielded function releases it early.

    The holder writes its pid and command line into the lock file, so that a command that waits more than
    ``supervisor.LOCK_NOTICE_S`` says whom it waits for instead of hanging silently.
    """
    from registry import supervisor

    chain_dir.mkdir(parents=True, exist_ok=True)
    with open(chain_dir / "lock", "a+") as lock:
        supervisor.lock_exclusively(lock, "chain lock")
        lock.seek(0)
        lock.truncate()
        lock.write(supervisor.holder_line())
        lock.flush()
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                fcntl.flock(lock, fcntl.LOCK_UN)
                released = True

        try:
            yield release
        finally:
            release()


def _flush(transport: Transport) -> None:
    """At the end of a command: save blocks mined without transactions (see ``StateSavingTransport``)."""
    flush = getattr(transport, "flush", None)
    if flush is not None:
        flush()


def find_deployment(settings: Settings, chain: chainlib.Chain) -> deployments.Deployment:
    """The contracts in force on ``chain`` (settings or the deployment book), checked; never deploys."""
    return _deployment(settings, chain, deploy_if_missing=False)


def _deployment(settings: Settings, chain: chainlib.Chain, deploy_if_missing: bool) -> deployments.Deployment:
    from registry import network
    from registry.chain import deployments

    if settings.chain_id is not None:
        network.check_chain(chain, settings.chain_id, f"network profile {settings.network}")
    if settings.registry_address and settings.disputes_address:
        network.check_code(
            chain,
            {
                "registry": (settings.registry_address, settings.source("registry_address")),
                "disputes": (settings.disputes_address, settings.source("disputes_address")),
            },
        )
        return deployments.Deployment(
            settings.registry_address, settings.disputes_address, settings.deployment_block
        )
    book = deployments.DeploymentBook(settings.data_dir / "deployments.json")
    known = book.lookup(chain)
    if known is not None:
        return known
    if not deploy_if_missing:
        raise ConfigError(
            f"no Ledgermark contracts are known on chain {chain.chain_id}: run `ledgermark chain deploy` "
            "or set LEDGERMARK_REGISTRY_ADDRESS and LEDGERMARK_DISPUTES_ADDRESS"
        )
    return deployments.deploy_contracts(chain, book if settings.chain != CHAIN_EMBEDDED else None)


# --------------------------------------------------------------------------- `ledgermark chain …`


def start_managed_chain(settings: Settings) -> localnode.LocalNode:
    """Start the data dir's node in the background (it outlives this command), or return the running one."""
    from registry.chain import localnode

    _require_local(settings)
    node_class = localnode.default_node_class()
    with _chain_lock(settings.chain_dir):
        return node_class.find_running(settings.chain_dir) or node_class.managed(settings.chain_dir).start()


def stop_managed_chain(settings: Settings) -> tuple[str, int] | None:
    """Save and stop the data dir's background node by process id; returns (kind, pid), or None if none ran."""
    from registry.chain import localnode

    _require_local(settings)
    node = localnode.default_node_class().find_running(settings.chain_dir)
    if node is None:
        return None
    pid = node.pid
    try:
        if isinstance(node, localnode.AnvilNode):
            node.save_state()  # already saved after every block; this covers blocks mined by other clients
    finally:
        node.stop()
    return (node.kind, pid) if pid is not None else None


def deploy_on(settings: Settings, *, force: bool = False) -> deployments.Deployment:
    """Deploy (or, unless forced, look up) the contracts on the configured chain and remember them."""
    from registry.chain import deployments

    with open_chain(settings) as chain:
        book = deployments.DeploymentBook(settings.data_dir / "deployments.json")
        known = None if force else book.lookup(chain)
        return known or deployments.deploy_contracts(chain, book)


def _require_local(settings: Settings) -> None:
    if settings.chain != CHAIN_LOCAL:
        raise ConfigError(
            f"`ledgermark chain start/stop` manage the local chain only, not {settings.chain!r}"
        )
