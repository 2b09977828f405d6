"""The connection: one JSON-RPC transport for reads, and a signer whose web3 is built on the first write.

Reads (contract calls, event logs, code, blocks) go through a ``Transport`` (``registry.chain.rpc``) and the
ABI codec (``registry.chain.abi``): the same path on every chain, and no web3 import, so read-only commands start
fast. Writes need web3 and eth-account (signing, fees, gas estimation): ``registry.chain.signer`` builds a
``Web3`` over the *same* transport the first time a transaction is sent, and derives the signing key only
then. A node that cannot be reached becomes ``ChainUnavailableError`` naming the URL (the transport's policy).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from registry.chain import abi, nonces
from registry.chain.errors import ChainError
from registry.chain.rpc import HttpTransport, ProviderTransport, RpcError, Transport
from registry.chain.types import TxResult

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from web3 import Web3
    from web3.contract import Contract

KeySource = Union[str, bytes, "LocalAccount", Callable[[], str | bytes], None]
"""A signer: a private key, an account, a function giving the key when first needed, or None (dev account 0)."""


class Link:
    """One node: the transport every read uses, and the ``Web3`` that writes use, made on first need."""

    def __init__(self, transport: Transport, provider: Any = None) -> None:
        self.transport = transport
        self.provider = (
            provider  # a web3 provider the caller gave (eth-tester); None: web3 over the transport
        )
        self.nonce_slots: nonces.Slots = {}  # the accounts' nonce locks when no lock folder is given

    @functools.cached_property
    def w3(self) -> Web3:
        from registry.chain import signer

        return signer.make_web3(self.transport, self.provider)

    @property
    def tester(self) -> Any:
        """eth-tester behind the in-process EVM, else None."""
        return getattr(self.provider, "ethereum_tester", None)


DEV_CONFIRMATIONS = 0
PUBLIC_CONFIRMATIONS = 2
"""Confirmations required when none are configured: on dev chains (eth-tester, Anvil, Ganache), elsewhere."""


class Chain:
    """A connection plus one signing account. ``with_account`` gives another signer on the same connection.

    ``confirmations`` (None: ``DEV_CONFIRMATIONS`` on a dev chain, else ``PUBLIC_CONFIRMATIONS``) is how deep a
    block must be before what it holds counts: writes wait for it, and reads are made at
    ``latest - confirmations``, so a registration that a reorganisation may still drop is never read as final.
    ``max_fee_wei`` caps the fee per gas; ``nonce_dir`` holds the lock files that serialise an account's sends
    across processes (``registry.chain.nonces``).
    """

    def __init__(
        self,
        link: Link,
        key: KeySource,
        chain_id: int,
        *,
        confirmations: int | None = None,
        max_fee_wei: int | None = None,
        nonce_dir: Path | None = None,
    ) -> None:
        self.link = link
        self._key = key
        self.chain_id = chain_id
        self._confirmations = confirmations
        self.max_fee_wei = max_fee_wei
        self.nonce_dir = nonce_dir

    @classmethod
    def connect(
        cls,
        node: Transport | str | Any,
        private_key: KeySource = None,
        *,
        confirmations: int | None = None,
        max_fee_wei: int | None = None,
        nonce_dir: Path | None = None,
    ) -> Chain:
        """Connect to ``node`` (a transport, an RPC URL, or a web3 provider) with a signer chosen lazily.

        The signer is ``private_key`` (or what it returns when callable), else the first funded dev account of
        the chain; it is resolved at the first write, so reads need neither a key nor eth-account.
        """
        if isinstance(node, Transport):
            link = Link(node)
        elif isinstance(node, str):
            link = Link(HttpTransport(node))
        else:
            link = Link(ProviderTransport(node), provider=node)
        chain_id = abi.to_int(link.transport.request("eth_chainId"))  # fails here, naming the URL
        if confirmations is not None and confirmations < 0:
            raise ChainError(f"confirmations must be 0 or more, not {confirmations}")
        return cls(
            link,
            private_key,
            chain_id,
            confirmations=confirmations,
            max_fee_wei=max_fee_wei,
            nonce_dir=nonce_dir,
        )

    # -- the signer ----------------------------------------------------------------------------

    @functools.cached_property
    def account(self) -> LocalAccount:
        """The signing account (derived now: this imports eth-account)."""
        from registry.chain import signer

        return signer.load_account(self, self._key)

    @property
    def address(self) -> str:
        return self.account.address

    def with_account(self, private_key: str | bytes | LocalAccount) -> Chain:
        """Same connection and policy (confirmations, fee cap, nonce locks), another signer."""
        return Chain(
            self.link,
            private_key,
            self.chain_id,
            confirmations=self._confirmations,
            max_fee_wei=self.max_fee_wei,
            nonce_dir=self.nonce_dir,
        )

    @functools.cached_property
    def nonces(self) -> nonces.NonceManager:
        """The signing account's nonce manager (shared by every ``Chain`` of this process for that account)."""
        pending = functools.partial(self.pending_nonce, self.address)
        memory_s = 0.0 if self.is_dev_chain else nonces.MEMORY_S
        return nonces.NonceManager(
            self.chain_id,
            self.address,
            pending,
            self.nonce_dir,
            slots=self.link.nonce_slots,
            memory_s=memory_s,
        )

    def pending_nonce(self, address: str) -> int:
        """The node's count of ``address``'s transactions, those in its pool included."""
        return abi.to_int(self.request("eth_getTransactionCount", [address, "pending"]))

    def dev_accounts(self, count: int | None = None) -> list[LocalAccount]:
        """The funded accounts of a dev chain (eth-tester keys, or the Ganache/Anvil dev mnemonic)."""
        from registry.chain import signer

        return signer.dev_accounts(self, count)

    # -- the connection ------------------------------------------------------------------------

    @property
    def transport(self) -> Transport:
        return self.link.transport

    @property
    def url(self) -> str:
        return self.link.transport.url

    @property
    def w3(self) -> Web3:
        """web3 over the same node, for transactions (imported and built on first use)."""
        return self.link.w3

    def request(self, method: str, params: list[Any] | None = None) -> Any:
        return self.link.transport.request(method, params)

    # -- reads ---------------------------------------------------------------------------------

    @functools.cached_property
    def confirmations(self) -> int:
        """Blocks required on top of a block before it counts (the configured value, else by kind of chain)."""
        if self._confirmations is not None:
            return self._confirmations
        return DEV_CONFIRMATIONS if self.is_dev_chain else PUBLIC_CONFIRMATIONS

    def confirmed_block(self) -> int | str:
        """The newest block with ``confirmations`` on top: ``"latest"`` when none are required."""
        if self.confirmations == 0:
            return "latest"
        return max(0, self.block_number() - self.confirmations)

    def call(self, to: str, data: bytes, block: int | str | None = None) -> bytes:
        """``eth_call`` at ``block`` (default: the confirmed block); a revert becomes the contract's typed error."""
        block = self.confirmed_block() if block is None else block
        tag = hex(block) if isinstance(block, int) else block
        try:
            result = self.request("eth_call", [{"to": to, "data": "0x" + data.hex()}, tag])
        except RpcError as err:
            if not err.is_revert:
                raise
            raise abi.revert_from_rpc(err.revert_data, err.rpc_message) from err
        return abi.to_bytes(result or "0x")

    def get_logs(
        self,
        address: str,
        topics: list[str | None],
        from_block: int = 0,
        to_block: int | str | None = None,
    ) -> list[dict[str, Any]]:
        """``eth_getLogs`` of one contract (raw logs, oldest first), up to ``to_block`` (default: confirmed)."""
        to_block = self.confirmed_block() if to_block is None else to_block
        if isinstance(to_block, int) and to_block < from_block:
            return []  # nothing confirmed since from_block yet
        end = hex(to_block) if isinstance(to_block, int) else to_block
        query = {"address": address, "fromBlock": hex(from_block), "toBlock": end, "topics": topics}
        return list(self.request("eth_getLogs", [query]) or [])

    def get_code(self, address: str) -> bytes:
        return abi.to_bytes(self.request("eth_getCode", [address, "latest"]) or "0x")

    def block(self, number: int | str = "latest") -> dict[str, Any]:
        """A block header (without transactions) as the node sent it: quantities may be hex or int."""
        tag = hex(number) if isinstance(number, int) else number
        found = self.request("eth_getBlockByNumber", [tag, False])
        if not found:
            raise ChainError(f"block {number} not found on {self.url}")
        return dict(found)

    def block_number(self) -> int:
        return abi.to_int(self.request("eth_blockNumber"))

    def latest_timestamp(self) -> int:
        return abi.to_int(self.block("latest")["timestamp"])

    def balance(self, address: str) -> int:
        return abi.to_int(self.request("eth_getBalance", [address, "latest"]))

    # -- writes (web3) ---------------------------------------------------------------------------

    def deploy(self, name: str, *constructor_args: Any) -> str:
        """Deploy the packaged contract ``name`` and return its checksum address."""
        from registry.chain import signer

        return signer.deploy(self, name, constructor_args)

    def contract(self, name: str, address: str) -> Contract:
        """The web3 contract object (for building transactions)."""
        from registry.chain import signer

        return signer.contract(self, name, address)

    def transact(self, fn: Any, *, value: int = 0, events_from: tuple[str, str] | None = None) -> TxResult:
        """Sign, send and wait until ``fn`` (a web3 function call or constructor) has its confirmations.

        Raises the contract's error on revert, ``FeeCapError`` above the fee cap (nothing sent).

        ``events_from`` is ``(contract name, address)``: that contract's events in the receipt are decoded.
        """
        from registry.chain import signer

        return signer.transact(self, fn, value=value, events_from=events_from)

    def send_value(self, to: str, amount_wei: int) -> TxResult:
        """Send ether to ``to`` (gas money for an arbiter's new account, say)."""
        from registry.chain import signer

        return signer.send_value(self, to, amount_wei)

    # -- dev-chain controls --------------------------------------------------------------------

    @functools.cached_property
    def is_dev_chain(self) -> bool:
        """True for eth-tester, Ganache and Anvil: chains where ``mine`` and ``time_travel`` work."""
        if self.link.tester is not None:
            return True
        try:
            version = str(self.request("web3_clientVersion")).lower()
        except ChainError:
            return False
        return "ganache" in version or "anvil" in version or "ethereumjs" in version

    def mine(self, blocks: int = 1) -> None:
        """Mine ``blocks`` empty blocks (dev chains only)."""
        if blocks <= 0:
            return
        tester = self.link.tester
        if tester is not None:
            tester.mine_blocks(blocks)
            return
        for _ in range(blocks):
            self.request("evm_mine", [])

    def time_travel(self, seconds: int) -> None:
        """Advance the chain clock by ``seconds`` and mine a block carrying the new time (dev chains only)."""
        tester = self.link.tester
        if tester is not None:
            tester.time_travel(self.latest_timestamp() + int(seconds))  # sets the pending block's time only
            tester.mine_blocks(1)
            return
        self.request("evm_increaseTime", [int(seconds)])
        self.request("evm_mine", [])
