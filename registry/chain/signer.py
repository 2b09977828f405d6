"""The write side: web3 and eth-account, imported only when a command signs and sends a transaction.

``Chain`` (``registry.chain.connection``) reads through its transport; this module builds the ``Web3`` that
writes use over that same transport (one RPC policy, and an Anvil state file saved on every receipt), derives
the signing key, and signs, sends and waits. Transactions are signed here with eth-account and sent raw, so the
same code works against a node that holds no keys. Fees are EIP-1559 when the chain reports a base fee, legacy
otherwise, and never above the account's cap. The nonce comes from the account's ``NonceManager``
(``registry.chain.nonces``); success waits for the chain's confirmations, through reorganisations.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError, ContractPanicError, Web3Exception
from web3.middleware import Web3Middleware
from web3.providers import JSONBaseProvider
from web3.types import RPCEndpoint, RPCResponse

from registry.chain import abi
from registry.chain.errors import ChainError, ChainUnavailableError, ContractRevertError, FeeCapError
from registry.chain.rpc import (
    RpcError,
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

log = logging.getLogger(__name__)

RECEIPT_TIMEOUT_S = 120.0
"""How long a sent transaction may take to be mined, before the confirmations."""
CONFIRMATION_TIMEOUT_S = 60.0
"""Added to the wait for each confirmation required."""
POLL_FIRST_S = 0.05
POLL_MAX_S = 2.0
"""Receipt polling starts at ``POLL_FIRST_S`` and doubles up to ``POLL_MAX_S``."""
GAS_MARGIN_PERCENT = 125
"""Gas limit = estimate × this / 100: the state may change between estimation and inclusion."""
DEFAULT_TIP_WEI = 10**9
"""Priority fee when the node does not suggest one (1 gwei)."""
MAX_RESENDS = 3
"""How many times a transaction dropped by reorganisations is sent again before giving up."""


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
    receipt = chain.request("eth_getTransactionReceipt", [result.tx_hash])
    return to_checksum_address(_hex(receipt["contractAddress"]))


def transact(
    chain: Chain, fn: Any, *, value: int = 0, events_from: tuple[str, str] | None = None
) -> TxResult:
    """Estimate, price, sign, send and wait until final; raise on revert.

    Nothing is sent when estimation reverts (the contract's custom error) or fees exceed the cap. The nonce is
    the account's nonce manager's; success is reported only once the receipt's block has ``confirmations``
    blocks on top (``await_receipt``).
    """
    tx = _prepare(chain, fn, value)
    sent = _send(chain, tx)
    receipt = await_receipt(chain, sent)
    block = abi.to_int(receipt["blockNumber"])
    if abi.to_int(receipt["status"]) != 1:
        raise _revert_reason(chain, tx, block)
    events = abi.decode_logs(*events_from, receipt["logs"]) if events_from is not None else []
    return TxResult(sent.tx_hash, block, abi.to_int(receipt["gasUsed"]), events)


def send_value(chain: Chain, to: str, amount_wei: int) -> TxResult:
    """A plain ether transfer, through the same fees, nonce manager and confirmations as a contract call."""
    params = {"from": chain.address, "to": to_checksum_address(to), "value": amount_wei}
    with _web3_errors("estimating gas"), translate_errors():
        gas = abi.to_int(chain.request("eth_estimateGas", [{**params, "value": hex(amount_wei)}]))
    tx = {**params, **_fees(chain), "gas": gas, "chainId": chain.chain_id}
    receipt = await_receipt(chain, _send(chain, tx))
    if abi.to_int(receipt["status"]) != 1:
        raise ChainError(f"the transfer to {to} failed in block {abi.to_int(receipt['blockNumber'])}")
    return TxResult(
        _hex(receipt["transactionHash"]),
        abi.to_int(receipt["blockNumber"]),
        abi.to_int(receipt["gasUsed"]),
        [],
    )


@dataclasses.dataclass(frozen=True)
class Sent:
    """A transaction the node accepted: what is needed to find it again, or to send it again after a reorg."""

    tx_hash: str
    nonce: int
    raw: bytes


def _prepare(chain: Chain, fn: Any, value: int) -> dict[str, Any]:
    """The unsigned transaction, without its nonce: fees (capped) first, then the gas estimate with a margin."""
    fees = _fees(chain)
    params: dict[str, Any] = {"from": chain.address, "value": value, "chainId": chain.chain_id}
    with _web3_errors("estimating gas"), translate_errors():
        gas = int(fn.estimate_gas(params))
        return dict(fn.build_transaction({**params, **fees, "gas": gas * GAS_MARGIN_PERCENT // 100}))


def _send(chain: Chain, tx: dict[str, Any]) -> Sent:
    """Sign with the nonce the account's manager picks, send raw; a send that reverts is the contract's error."""

    def submit(nonce: int) -> tuple[bytes, str]:
        signed = chain.account.sign_transaction({**tx, "nonce": nonce})
        raw = bytes(signed.raw_transaction)
        try:
            chain.request("eth_sendRawTransaction", ["0x" + raw.hex()])
        except RpcError as err:
            if err.is_revert:
                raise abi.revert_from_rpc(err.revert_data, err.rpc_message) from err
            raise
        return raw, "0x" + bytes(signed.hash).hex()

    nonce, (raw, tx_hash) = chain.nonces.send(submit)
    return Sent(tx_hash, nonce, raw)


# -- fees ------------------------------------------------------------------------------------------


def _fees(chain: Chain) -> dict[str, int]:
    """EIP-1559 fees (next base fee × 2 + tip) under ``chain.max_fee_wei``; legacy gas price without a base fee.

    A base fee (or legacy gas price) above the cap is refused here, before a nonce is taken.
    """
    cap = chain.max_fee_wei
    base = _next_base_fee(chain)
    if base is None:
        price = abi.to_int(chain.request("eth_gasPrice"))
        _check_cap("gas price", price, cap)
        return {"gasPrice": price}
    _check_cap("base fee", base, cap)
    tip = _priority_fee(chain)
    max_fee = 2 * base + tip if cap is None else min(2 * base + tip, cap)
    return {"maxFeePerGas": max_fee, "maxPriorityFeePerGas": min(tip, max_fee)}


def _check_cap(what: str, needed: int, cap: int | None) -> None:
    if cap is not None and needed > cap:
        raise FeeCapError(what, needed, cap)


def _next_base_fee(chain: Chain) -> int | None:
    """The next block's base fee (``eth_feeHistory``), else the latest block's; None on a pre-London chain."""
    try:
        history = chain.request("eth_feeHistory", [hex(1), "latest", []])
        return abi.to_int(history["baseFeePerGas"][-1])
    except Exception:  # noqa: BLE001 - not every node implements eth_feeHistory (eth-tester, old Ganache)
        base = chain.block("latest").get("baseFeePerGas")
        return None if base is None else abi.to_int(base)


def _priority_fee(chain: Chain) -> int:
    try:
        return abi.to_int(chain.request("eth_maxPriorityFeePerGas"))
    except Exception:  # noqa: BLE001 - not every node implements eth_maxPriorityFeePerGas
        return DEFAULT_TIP_WEI


# -- receipts --------------------------------------------------------------------------------------


def await_receipt(chain: Chain, sent: Sent) -> dict[str, Any]:
    """The receipt once its block has ``chain.confirmations`` blocks on top (a failed one at once).

    Polls with exponential backoff. A receipt that disappears, or moves to another block, is a reorganisation:
    success waits for the new inclusion, and a transaction the node no longer knows is sent again (same
    signed bytes, same nonce). The overall wait is bounded; the error names the transaction hash.
    """
    need = chain.confirmations
    deadline = time.monotonic() + RECEIPT_TIMEOUT_S + CONFIRMATION_TIMEOUT_S * need
    delay, seen, resends = POLL_FIRST_S, None, 0
    while True:
        receipt = chain.request("eth_getTransactionReceipt", [sent.tx_hash])
        if receipt is None:
            if seen is not None:
                log.warning("transaction %s left block %s (chain reorganisation)", sent.tx_hash, seen)
                seen = None
            if chain.request("eth_getTransactionByHash", [sent.tx_hash]) is None:
                resends = _resend(chain, sent, resends)
        else:
            block, block_hash = abi.to_int(receipt["blockNumber"]), _hex(receipt["blockHash"])
            if seen is not None and seen != block_hash:
                log.warning("transaction %s moved to block %d (chain reorganisation)", sent.tx_hash, block)
            seen = block_hash
            if abi.to_int(receipt["status"]) != 1 or _confirmed(chain, block, block_hash, need):
                return dict(receipt)
        if time.monotonic() >= deadline:
            state = "not mined" if seen is None else f"in block {seen} without {need} confirmations"
            waited = RECEIPT_TIMEOUT_S + CONFIRMATION_TIMEOUT_S * need
            raise ChainError(
                f"transaction {sent.tx_hash} is {state} after {waited:.0f} s; it may still land: look it up "
                "before sending again"
            )
        time.sleep(delay)
        delay = min(delay * 2, POLL_MAX_S)


def _confirmed(chain: Chain, block: int, block_hash: str, need: int) -> bool:
    """True when ``need`` blocks sit on ``block`` and ``block_hash`` is still the chain's block at that height."""
    if need <= 0:
        return True
    if chain.block_number() - block < need:
        return False
    return _hex(chain.block(block)["hash"]) == block_hash


def _resend(chain: Chain, sent: Sent, resends: int) -> int:
    """Send a dropped transaction again (same bytes, same nonce); the count of resends so far."""
    if resends >= MAX_RESENDS:
        raise ChainError(
            f"transaction {sent.tx_hash} (nonce {sent.nonce}) was dropped {resends} times and is not on the "
            "chain: nothing it did is final; send it again"
        )
    try:
        chain.request("eth_sendRawTransaction", ["0x" + sent.raw.hex()])
    except RpcError as err:
        message = err.rpc_message.lower()
        if "already" in message or chain.request("eth_getTransactionReceipt", [sent.tx_hash]) is not None:
            return resends + 1
        if "nonce too low" in message:
            raise ChainError(
                f"transaction {sent.tx_hash} was dropped by a chain reorganisation and its nonce {sent.nonce} "
                f"is now taken by another transaction of {chain.address}: it was not re-included, so nothing "
                "it did is final; send it again"
            ) from err
        raise ChainError(
            f"transaction {sent.tx_hash} was dropped by a chain reorganisation and could not be sent again: "
            f"{err.rpc_message}"
        ) from err
    log.warning(
        "transaction %s was dropped by a reorganisation; sent again (nonce %d)", sent.tx_hash, sent.nonce
    )
    return resends + 1


def _hex(value: Any) -> str:
    """A hash as lower-case 0x-hex, whether the node sent text or bytes."""
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    return str(value).lower()


@contextmanager
def _web3_errors(doing: str) -> Iterator[None]:
    """web3's own exceptions (bad replies, validation) as ``ChainError``: no traceback reaches the CLI."""
    try:
        yield
    except Web3Exception as err:
        raise ChainError(f"{doing} failed: {err}") from err


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
