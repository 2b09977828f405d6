"""The write side: web3 and eth-account, imported only when a command signs and sends a transaction.

``Chain`` (``registry.chain.connection``) reads through its transport; this module builds the ``Web3`` that
writes use over that same transport (one RPC policy, and an Anvil state file saved on every receipt), derives
the signing key, and signs, sends and waits. Transactions are signed here with eth-account and sent raw, so the
same code works against a node that holds no keys. Fees are EIP-1559 when the chain reports a base fee, legacy
otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError, ContractPanicError, TimeExhausted
from web3.middleware import Web3Middleware
from web3.providers import JSONBaseProvider
from web3.types import RPCEndpoint, RPCResponse

from registry.chain import abi
from registry.chain.errors import ChainError, ChainUnavailableError, ContractRevertError
from registry.chain.rpc import (
    Transport,
    is_tester_failure,
    provider_unreachable_errors,
    provider_url,
    revert_payload,
    tester_revert_data,
)
from registry.chain.types import TxResult

if TYPE_CHECKING:
    from registry.chain.connection import Chain, KeySource

RECEIPT_TIMEOUT_S = 120.0


class TransportProvider(JSONBaseProvider):
    """A web3 provider that sends every request through a ``Transport`` (so reads and writes share it)."""

    def __init__(self, transport: Transport) -> None:
        super().__init__()
        self.transport = transport
        self.endpoint_uri = transport.url

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        return self.transport.exchange(str(method), list(params))  # type: ignore[return-value]

    def is_connected(self, show_traceback: bool = False) -> bool:
        try:
            self.transport.request("eth_chainId")
        except ChainError:
            if show_traceback:
                raise
            return False
        return True

    def __str__(self) -> str:
        return f"RPC connection {self.transport.url}"


class UnavailableNodeMiddleware(Web3Middleware):
    """RPC policy for a provider given from outside: a transport failure is ``ChainUnavailableError``."""

    def wrap_make_request(self, make_request: Callable[..., Any]) -> Callable[..., Any]:
        def middleware(method: Any, params: Any) -> Any:
            try:
                return make_request(method, params)
            except provider_unreachable_errors() as err:
                raise ChainUnavailableError(provider_url(self._w3.provider), err) from err

        return middleware


def make_web3(transport: Transport, provider: Any = None) -> Web3:
    """``Web3`` over ``provider`` when the caller gave one (eth-tester), else over ``transport``."""
    if provider is None:
        return Web3(TransportProvider(transport))
    w3 = Web3(provider)
    w3.middleware_onion.add(UnavailableNodeMiddleware, name="ledgermark_unavailable")
    return w3


# -- accounts --------------------------------------------------------------------------------------


def load_account(chain: Chain, key: KeySource) -> LocalAccount:
    """The signer from a key, an account, a function returning a key, or None (the first funded dev account)."""
    if isinstance(key, LocalAccount):
        return key
    if callable(key):
        key = key()
    if key is None:
        return _default_account(chain)
    return Account.from_key(key)


def _default_account(chain: Chain) -> LocalAccount:
    """The chain's first dev account: only that one key is derived (each derivation is a PBKDF2 + BIP-32 walk)."""
    account = dev_accounts(chain, count=1)[0]
    if chain.balance(account.address) == 0:
        raise ChainError("the chain's first dev account has no funds: pass a private key")
    return account


def dev_accounts(chain: Chain, count: int | None = None) -> list[LocalAccount]:
    """The funded accounts of a dev chain (eth-tester keys, or the Ganache/Anvil dev mnemonic)."""
    tester = chain.link.tester
    if tester is not None:
        keys = tester.backend.account_keys[:count]
        return [Account.from_key(k.to_bytes()) for k in keys]
    from registry.chain import localnode  # only Ganache/Anvil dev wallets need the mnemonic

    return localnode.dev_accounts() if count is None else localnode.dev_accounts(count)


# -- transactions ----------------------------------------------------------------------------------


def contract(chain: Chain, name: str, address: str) -> Contract:
    return chain.w3.eth.contract(address=to_checksum_address(address), abi=abi.load_artifact(name)["abi"])


def deploy(chain: Chain, name: str, constructor_args: tuple[Any, ...]) -> str:
    """Deploy the packaged contract ``name`` and return its checksum address."""
    artifact = abi.load_artifact(name)
    factory = chain.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    result = transact(chain, factory.constructor(*constructor_args))
    receipt = chain.w3.eth.get_transaction_receipt(result.tx_hash)
    return to_checksum_address(receipt["contractAddress"])


def transact(
    chain: Chain, fn: Any, *, value: int = 0, events_from: tuple[str, str] | None = None
) -> TxResult:
    """Sign, send and wait for ``fn`` (a contract function call or constructor); raise on revert."""
    w3 = chain.w3
    with translate_errors():
        tx = fn.build_transaction(_tx_params(chain, value))
    signed = chain.account.sign_transaction(tx)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    try:
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT_S)
    except TimeExhausted as err:
        raise ChainError(
            f"transaction {tx_hash.to_0x_hex()} not mined within {RECEIPT_TIMEOUT_S:.0f} s"
        ) from err
    if receipt["status"] != 1:
        raise _revert_reason(chain, tx, receipt["blockNumber"])
    events = abi.decode_logs(*events_from, receipt["logs"]) if events_from is not None else []
    return TxResult(tx_hash.to_0x_hex(), receipt["blockNumber"], receipt["gasUsed"], events)


def _tx_params(chain: Chain, value: int) -> dict[str, Any]:
    w3 = chain.w3
    params: dict[str, Any] = {
        "from": chain.address,
        "nonce": w3.eth.get_transaction_count(chain.address, "pending"),
        "chainId": chain.chain_id,
        "value": value,
    }
    base_fee = w3.eth.get_block("latest").get("baseFeePerGas")
    if base_fee is None:
        params["gasPrice"] = w3.eth.gas_price
    else:
        tip = _priority_fee(w3)
        params["maxPriorityFeePerGas"] = tip
        params["maxFeePerGas"] = 2 * base_fee + tip
    return params


def _priority_fee(w3: Web3) -> int:
    try:
        return int(w3.eth.max_priority_fee)
    except Exception:  # noqa: BLE001 - not every node implements eth_maxPriorityFeePerGas
        return Web3.to_wei(1, "gwei")


def _revert_reason(chain: Chain, tx: dict[str, Any], block_number: int) -> ChainError:
    """A mined-but-failed transaction: replay it as a call at its block to recover the custom error."""
    call = {k: tx[k] for k in ("from", "to", "data", "value") if k in tx}
    try:
        with translate_errors():
            chain.w3.eth.call(call, block_number)
    except ContractRevertError as err:
        return err
    return ChainError("transaction failed on-chain without a decodable revert (out of gas?)")


@contextmanager
def translate_errors() -> Iterator[None]:
    """Re-raise web3's (and eth-tester's) contract-logic exceptions as ``ContractRevertError`` subclasses."""
    try:
        yield
    except ContractPanicError as err:
        raise ContractRevertError(
            "Panic", {"reason": err.message}, "Solidity panic (assert, overflow, ...)"
        ) from err
    except (
        ContractLogicError
    ) as err:  # ContractCustomError included; Ganache reports custom errors as plain ones
        data = revert_payload(err.data)
        if data is None or len(data) < 4:
            raise ContractRevertError("Error", {"reason": err.message}, "the contract reverted") from err
        raise abi.decode_revert(data) from err
    except Exception as err:
        if not is_tester_failure(err):
            raise
        raise abi.decode_revert(tester_revert_data(err)) from err
