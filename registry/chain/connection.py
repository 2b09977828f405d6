"""The connection: a web3 provider from outside, one local signer, fees, and the RPC-policy middleware.

The provider comes from outside (STYLE.md): ``EthereumTesterProvider`` for the in-process EVM, an
``HTTPProvider`` for Ganache, Anvil or any Ethereum JSON-RPC node. Transactions are signed here with
eth-account and sent raw, so the same code works against a node that holds no keys. Fees are EIP-1559 when the
chain reports a base fee, legacy otherwise. A node that cannot be reached becomes ``ChainUnavailableError``
naming the URL; that translation is RPC policy and lives in a middleware, not at call sites.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ProviderConnectionError, TimeExhausted
from web3.middleware import Web3Middleware
from web3.providers import BaseProvider
from web3.providers.eth_tester import EthereumTesterProvider

from registry.chain.abi import decode_events, load_artifact, translate_errors
from registry.chain.errors import ChainError, ChainUnavailableError, ContractRevertError
from registry.chain.types import TxResult

RECEIPT_TIMEOUT_S = 120.0


class UnavailableNodeMiddleware(Web3Middleware):
    """RPC policy: a transport failure surfaces as ``ChainUnavailableError`` naming the node's URL."""

    def wrap_make_request(self, make_request: Callable[..., Any]) -> Callable[..., Any]:
        def middleware(method: Any, params: Any) -> Any:
            try:
                return make_request(method, params)
            except (
                requests.ConnectionError,
                requests.Timeout,
                ProviderConnectionError,
                ConnectionError,
            ) as err:
                raise ChainUnavailableError(_provider_url(self._w3.provider), err) from err

        return middleware


def _provider_url(provider: Any) -> str:
    return str(getattr(provider, "endpoint_uri", None) or provider)


class Chain:
    """A connection plus one signing account. ``with_account`` gives another signer on the same connection."""

    def __init__(self, w3: Web3, account: LocalAccount) -> None:
        self.w3 = w3
        self.account = account
        self.chain_id: int = w3.eth.chain_id

    @classmethod
    def connect(cls, provider: BaseProvider, private_key: str | bytes | None = None) -> Chain:
        """Connect and pick the signer: ``private_key``, else the first funded dev account of the chain."""
        w3 = Web3(provider)
        w3.middleware_onion.add(UnavailableNodeMiddleware, name="ledgermark_unavailable")
        try:
            _ = w3.eth.chain_id  # fail here, naming the URL, rather than at the first transaction
        except (requests.RequestException, OSError) as err:
            raise ChainUnavailableError(_provider_url(provider), err) from err
        account = Account.from_key(private_key) if private_key is not None else _default_account(w3)
        return cls(w3, account)

    @property
    def address(self) -> str:
        return self.account.address

    @property
    def url(self) -> str:
        return _provider_url(self.w3.provider)

    def with_account(self, private_key: str | bytes | LocalAccount) -> Chain:
        """Same connection, another signer (arbiters, a buyer, an attacker in tests)."""
        account = private_key if isinstance(private_key, LocalAccount) else Account.from_key(private_key)
        return Chain(self.w3, account)

    def dev_accounts(self, count: int | None = None) -> list[LocalAccount]:
        """The funded accounts of a dev chain (eth-tester keys, or the Ganache/Anvil dev mnemonic)."""
        return _dev_accounts(self.w3, count)

    def deploy(self, name: str, *constructor_args: Any) -> str:
        """Deploy the packaged contract ``name`` and return its checksum address."""
        artifact = load_artifact(name)
        factory = self.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        result = self.transact(factory.constructor(*constructor_args))
        receipt = self.w3.eth.get_transaction_receipt(result.tx_hash)
        return to_checksum_address(receipt["contractAddress"])

    def contract(self, name: str, address: str) -> Contract:
        return self.w3.eth.contract(address=to_checksum_address(address), abi=load_artifact(name)["abi"])

    # -- transactions --------------------------------------------------------------------------

    def transact(self, fn: Any, *, value: int = 0, events_from: Contract | None = None) -> TxResult:
        """Sign, send and wait for ``fn`` (a contract function call or constructor); raise on revert."""
        with translate_errors():
            tx = fn.build_transaction(self._tx_params(value))
        signed = self.account.sign_transaction(tx)
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        try:
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT_S)
        except TimeExhausted as err:
            raise ChainError(
                f"transaction {tx_hash.to_0x_hex()} not mined within {RECEIPT_TIMEOUT_S:.0f} s"
            ) from err
        if receipt["status"] != 1:
            raise self._revert_reason(tx, receipt["blockNumber"])
        events = decode_events(events_from, receipt) if events_from is not None else []
        return TxResult(tx_hash.to_0x_hex(), receipt["blockNumber"], receipt["gasUsed"], events)

    def _tx_params(self, value: int) -> dict[str, Any]:
        params: dict[str, Any] = {
            "from": self.address,
            "nonce": self.w3.eth.get_transaction_count(self.address, "pending"),
            "chainId": self.chain_id,
            "value": value,
        }
        base_fee = self.w3.eth.get_block("latest").get("baseFeePerGas")
        if base_fee is None:
            params["gasPrice"] = self.w3.eth.gas_price
        else:
            tip = self._priority_fee()
            params["maxPriorityFeePerGas"] = tip
            params["maxFeePerGas"] = 2 * base_fee + tip
        return params

    def _priority_fee(self) -> int:
        try:
            return int(self.w3.eth.max_priority_fee)
        except Exception:  # noqa: BLE001 - not every node implements eth_maxPriorityFeePerGas
            return Web3.to_wei(1, "gwei")

    def _revert_reason(self, tx: dict[str, Any], block_number: int) -> ChainError:
        """A mined-but-failed transaction: replay it as a call at its block to recover the custom error."""
        call = {k: tx[k] for k in ("from", "to", "data", "value") if k in tx}
        try:
            with translate_errors():
                self.w3.eth.call(call, block_number)
        except ContractRevertError as err:
            return err
        return ChainError("transaction failed on-chain without a decodable revert (out of gas?)")

    # -- dev-chain controls --------------------------------------------------------------------

    @property
    def is_dev_chain(self) -> bool:
        """True for eth-tester, Ganache and Anvil: chains where ``mine`` and ``time_travel`` work."""
        if isinstance(self.w3.provider, EthereumTesterProvider):
            return True
        try:
            version = self.w3.client_version.lower()
        except Exception:  # noqa: BLE001
            return False
        return "ganache" in version or "anvil" in version or "ethereumjs" in version

    def block_number(self) -> int:
        return self.w3.eth.block_number

    def mine(self, blocks: int = 1) -> None:
        """Mine ``blocks`` empty blocks (dev chains only)."""
        if blocks <= 0:
            return
        tester = self._tester()
        if tester is not None:
            tester.mine_blocks(blocks)
            return
        for _ in range(blocks):
            self.w3.provider.make_request("evm_mine", [])

    def time_travel(self, seconds: int) -> None:
        """Advance the chain clock by ``seconds`` and mine a block carrying the new time (dev chains only)."""
        tester = self._tester()
        if tester is not None:
            latest = self.w3.eth.get_block("latest")["timestamp"]
            tester.time_travel(int(latest) + int(seconds))  # sets the pending block's time only
            tester.mine_blocks(1)
            return
        self.w3.provider.make_request("evm_increaseTime", [int(seconds)])
        self.w3.provider.make_request("evm_mine", [])

    def _tester(self) -> Any:
        provider = self.w3.provider
        return provider.ethereum_tester if isinstance(provider, EthereumTesterProvider) else None


def _default_account(w3: Web3) -> LocalAccount:
    """The chain's first dev account: only that one key is derived (deriving all ten costs ~0.3 s)."""
    account = _dev_accounts(w3, count=1)[0]
    if w3.eth.get_balance(account.address) == 0:
        raise ChainError("the chain's first dev account has no funds: pass a private key")
    return account


def _dev_accounts(w3: Web3, count: int | None = None) -> list[LocalAccount]:
    provider = w3.provider
    if isinstance(provider, EthereumTesterProvider):
        keys = provider.ethereum_tester.backend.account_keys[:count]
        return [Account.from_key(k.to_bytes()) for k in keys]
    from registry.chain import localnode  # only Ganache/Anvil dev wallets need the mnemonic

    return localnode.dev_accounts() if count is None else localnode.dev_accounts(count)
