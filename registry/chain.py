"""Typed access to the Ledgermark contracts over web3.py, with locally signed transactions.

The provider comes from outside (STYLE.md): ``EthereumTesterProvider`` for the in-process EVM, an
``HTTPProvider`` for Ganache, Anvil or any Ethereum JSON-RPC node. Transactions are signed here with
eth-account and sent raw, so the same code works against a node that holds no keys. Fees are EIP-1559 when the
chain reports a base fee, legacy otherwise.

Errors: every failure is a ``ChainError``. A contract revert becomes ``ContractRevertError`` carrying the
custom error's name and decoded arguments (selector looked up in both contracts' ABIs, so an error bubbling
from the registry through the disputes contract is still named) and a sentence from the error's NatSpec.
A node that cannot be reached becomes ``ChainUnavailableError`` naming the URL; that translation is RPC policy
and lives in a middleware, not at call sites.

Watermark-key hash scheme (see ``contracts/IModelRegistry.sol``): ``watermark_key_hash(key_cid) =
keccak256(utf8(key_cid))`` where ``key_cid`` is the canonical CID string (CIDv1, raw leaves, base32) of the
plaintext watermark key file, the very string revealed in a dispute.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import functools
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak
from eth_utils import to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import (
    ContractLogicError,
    ContractPanicError,
    ProviderConnectionError,
    TimeExhausted,
)
from web3.middleware import Web3Middleware
from web3.providers import BaseProvider
from web3.providers.eth_tester import EthereumTesterProvider

try:  # eth-tester is the in-process EVM; a production install may lack it
    from eth_tester.exceptions import TransactionFailed as _TesterTransactionFailed
except ImportError:  # pragma: no cover

    class _TesterTransactionFailed(Exception):  # type: ignore[no-redef]
        """Placeholder that never matches when eth-tester is absent."""


ARTIFACT_DIR = Path(__file__).resolve().parents[1] / "contracts" / "build"
ZERO_HASH = b"\x00" * 32
DEFAULT_MIN_COMMIT_AGE = 1
DEFAULT_MAX_COMMIT_AGE = 7200
MAX_ANCESTRY = 256
RECEIPT_TIMEOUT_S = 120.0


# --------------------------------------------------------------------------------------------- errors


class ChainError(Exception):
    """Root of every chain-side failure."""


class ChainUnavailableError(ChainError):
    """The node does not answer: the message names the URL and what to do."""

    def __init__(self, url: str, cause: BaseException | None = None) -> None:
        self.url = url
        hint = (
            "start it (e.g. `ledgermark chain start`, or Ganache/Anvil) or point the configuration elsewhere"
        )
        reason = f" ({type(cause).__name__})" if cause is not None else ""
        super().__init__(f"Ethereum node at {url} is not reachable{reason}; {hint}")


class ContractRevertError(ChainError):
    """A contract call reverted. ``name`` is the custom error (or ``Panic``/``Error``), ``error_args`` its values."""

    def __init__(self, name: str, error_args: dict[str, Any], description: str = "") -> None:
        self.name = name
        self.error_args = error_args
        self.description = description
        shown = ", ".join(f"{k}={_show(v)}" for k, v in error_args.items())
        text = f"{name}({shown})"
        super().__init__(f"{text}: {description}" if description else text)


class UnknownRecordError(ContractRevertError):
    """No registry record has the requested id."""


class UnknownDisputeError(ContractRevertError):
    """No dispute has the requested id."""


class UnauthorizedError(ContractRevertError):
    """The signing account may not do this (not the owner, claimant, or an arbiter)."""


class CommitmentError(ContractRevertError):
    """The registration's commitment is missing, reused, too new or too old."""


class DuplicateRootError(ContractRevertError):
    """The Merkle root is already registered."""


class DisputeStateError(ContractRevertError):
    """The dispute is in the wrong state for this call (deadline, already voted, already resolved, key)."""


_ERROR_CLASSES: dict[str, type[ContractRevertError]] = {
    "ModelRegistryUnknownRecord": UnknownRecordError,
    "OwnershipDisputesUnknownDispute": UnknownDisputeError,
    "ModelRegistryUnauthorizedAccount": UnauthorizedError,
    "OwnershipDisputesUnauthorizedAccount": UnauthorizedError,
    "OwnershipDisputesNotRecordOwner": UnauthorizedError,
    "OwnershipDisputesNotClaimant": UnauthorizedError,
    "OwnershipDisputesConflictOfInterest": UnauthorizedError,
    "ModelRegistryCommitmentNotFound": CommitmentError,
    "ModelRegistryCommitmentUsed": CommitmentError,
    "ModelRegistryCommitmentTooNew": CommitmentError,
    "ModelRegistryCommitmentTooOld": CommitmentError,
    "ModelRegistryCommitmentExists": CommitmentError,
    "ModelRegistryRootAlreadyRegistered": DuplicateRootError,
    "OwnershipDisputesAlreadyVoted": DisputeStateError,
    "OwnershipDisputesAlreadyResolved": DisputeStateError,
    "OwnershipDisputesVotingOpen": DisputeStateError,
    "OwnershipDisputesVotingClosed": DisputeStateError,
    "OwnershipDisputesKeyNotRevealed": DisputeStateError,
    "OwnershipDisputesKeyAlreadyRevealed": DisputeStateError,
}


def _show(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    return repr(value) if isinstance(value, str) else str(value)


# --------------------------------------------------------------------------------------------- data


class Derivation(enum.IntEnum):
    """How a record derives from its parent (``NONE`` exactly when it has none)."""

    NONE = 0
    FINE_TUNE = 1
    QUANTIZE = 2
    PRUNE = 3
    DISTILL = 4
    OTHER = 5


class Priority(enum.IntEnum):
    """Whose registration commitment came first, as the disputes contract recorded it."""

    SUSPECT_UNREGISTERED = 0
    CLAIMANT_FIRST = 1
    SUSPECT_FIRST = 2
    SAME_BLOCK = 3


class DisputeStatus(enum.IntEnum):
    NONE = 0
    OPEN = 1
    UPHELD = 2
    REJECTED = 3


@dataclasses.dataclass(frozen=True)
class Record:
    """One registry record; ``revoked`` records stay readable and must be shown as revoked."""

    record_id: int
    owner: str
    root: bytes
    leaf_count: int
    manifest_cid: str
    watermark_key_hash: bytes
    parent_id: int
    derivation: Derivation
    commit_block: int
    registered_block: int
    registered_at: int
    revoked: bool


@dataclasses.dataclass(frozen=True)
class Dispute:
    """One dispute as stored on-chain; vote reports are in ``OwnershipDisputesClient.votes``."""

    dispute_id: int
    claimant: str
    claimant_record: int
    suspect_root: bytes
    suspect_record: int  # 0: the suspect model is not registered
    priority: Priority
    status: DisputeStatus
    key_revealed: bool
    key_cid: str
    evidence_cid: str
    opened_at: int
    deadline: int
    uphold_votes: int
    reject_votes: int
    bond: int


@dataclasses.dataclass(frozen=True)
class Vote:
    dispute_id: int
    arbiter: str
    uphold: bool
    report_cid: str
    block_number: int


@dataclasses.dataclass(frozen=True)
class TxResult:
    """A mined, successful transaction and its decoded events (``{"event", "args", ...}`` dicts)."""

    tx_hash: str
    block_number: int
    gas_used: int
    events: list[dict[str, Any]]

    def event(self, name: str) -> dict[str, Any]:
        """Arguments of the first event called ``name``; KeyError when the transaction emitted none."""
        for ev in self.events:
            if ev["event"] == name:
                return ev["args"]
        raise KeyError(f"transaction {self.tx_hash} emitted no {name} event")


# --------------------------------------------------------------------------------------------- helpers


@functools.cache
def load_artifact(name: str) -> dict[str, Any]:
    """The committed build artifact ``contracts/build/<name>.json`` (no compiler needed at run time)."""
    path = ARTIFACT_DIR / f"{name}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ChainError(f"contract artifact {path} is missing: run `python contracts/build.py`") from err


def watermark_key_hash(key_cid: str) -> bytes:
    """The record's watermark-key hash for a key revealed as ``key_cid``: keccak256 of its UTF-8 bytes."""
    if not key_cid:
        raise ValueError("key CID must be non-empty")
    return keccak(key_cid.encode("utf-8"))


def compute_commitment(
    chain_id: int, registry: str, sender: str, root: bytes, key_hash: bytes, salt: bytes
) -> bytes:
    """Off-chain twin of ``ModelRegistry.computeCommitment`` (DESIGN.md §5)."""
    for value, what in ((root, "root"), (key_hash, "watermark key hash"), (salt, "salt")):
        _check_bytes32(value, what)
    encoded = abi_encode(
        ["uint256", "address", "address", "bytes32", "bytes32", "bytes32"],
        [chain_id, to_checksum_address(registry), to_checksum_address(sender), root, key_hash, salt],
    )
    return keccak(encoded)


def _check_bytes32(value: bytes, what: str) -> None:
    if not isinstance(value, (bytes, bytearray)) or len(value) != 32:
        raise ValueError(f"{what} must be 32 bytes")


@functools.cache
def _error_table() -> dict[bytes, tuple[str, list[str], list[str], str]]:
    """4-byte selector -> (name, arg names, arg types, NatSpec text) over every contract's custom errors."""
    table: dict[bytes, tuple[str, list[str], list[str], str]] = {}
    for artifact_name in ("ModelRegistry", "OwnershipDisputes"):
        artifact = load_artifact(artifact_name)
        docs = artifact.get("errorDocs", {})
        for entry in artifact["abi"]:
            if entry["type"] != "error":
                continue
            types = [_abi_type(i) for i in entry["inputs"]]
            signature = f"{entry['name']}({','.join(types)})"
            names = [i["name"] for i in entry["inputs"]]
            table[keccak(signature.encode())[:4]] = (entry["name"], names, types, docs.get(signature, ""))
    return table


def _abi_type(item: dict[str, Any]) -> str:
    if item["type"].startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in item["components"])
        return f"({inner}){item['type'][5:]}"
    return item["type"]


def decode_revert(data: str | bytes | None) -> ContractRevertError:
    """Turn revert data (selector + ABI args) into the matching ``ContractRevertError`` subclass."""
    raw = bytes.fromhex(data.removeprefix("0x")) if isinstance(data, str) else data or b""
    if len(raw) < 4:
        return ContractRevertError("Revert", {}, "the contract reverted without an error")
    entry = _error_table().get(raw[:4])
    if entry is None:
        return ContractRevertError("UnknownError", {"data": raw}, "revert data matches no known custom error")
    name, arg_names, types, doc = entry
    values = abi_decode(types, raw[4:])
    args = {n: _plain(v) for n, v in zip(arg_names, values)}
    return _ERROR_CLASSES.get(name, ContractRevertError)(name, args, doc)


def _plain(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return to_checksum_address(value)
    return value


@contextmanager
def translate_errors() -> Iterator[None]:
    """Re-raise web3's contract-logic exceptions as ``ContractRevertError`` subclasses."""
    try:
        yield
    except ContractPanicError as err:
        raise ContractRevertError(
            "Panic", {"reason": err.message}, "Solidity panic (assert, overflow, ...)"
        ) from err
    except (
        ContractLogicError
    ) as err:  # ContractCustomError included; Ganache reports custom errors as plain ones
        data = _logic_error_data(err)
        if data is None or len(data) < 4:
            raise ContractRevertError("Error", {"reason": err.message}, "the contract reverted") from err
        raise decode_revert(data) from err
    except _TesterTransactionFailed as err:
        raise decode_revert(_tester_revert_data(err)) from err


def _logic_error_data(err: ContractLogicError) -> bytes | None:
    """Revert data from web3's error: a hex string (geth, Anvil) or a dict with ``result``/``data`` (Ganache)."""
    data: Any = err.data
    if isinstance(data, dict):
        data = data.get("result") or data.get("data")
    if isinstance(data, str) and data.startswith("0x"):
        try:
            return bytes.fromhex(data[2:])
        except ValueError:
            return None
    return None


def _tester_revert_data(err: BaseException) -> bytes | None:
    """eth-tester pastes the revert data into its message as a bytes literal; recover the raw bytes."""
    seen: BaseException | None = err
    while seen is not None:
        first = seen.args[0] if seen.args else None
        if isinstance(first, (bytes, bytearray)):
            return bytes(first)
        if isinstance(first, str):
            literal = first.removeprefix("execution reverted: ").strip()
            if literal[:2] in ("b'", 'b"'):
                try:
                    value = ast.literal_eval(literal)
                except (ValueError, SyntaxError):
                    value = None
                if isinstance(value, bytes):
                    return value
        seen = seen.__context__
    return None


# --------------------------------------------------------------------------------------------- middleware


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


# --------------------------------------------------------------------------------------------- chain


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

    def dev_accounts(self) -> list[LocalAccount]:
        """The funded accounts of a dev chain (eth-tester keys, or the Ganache/Anvil dev mnemonic)."""
        return _dev_accounts(self.w3)

    # -- deployment ----------------------------------------------------------------------------

    def deploy_registry(
        self, *, min_commit_age: int = DEFAULT_MIN_COMMIT_AGE, max_commit_age: int = DEFAULT_MAX_COMMIT_AGE
    ) -> str:
        """Deploy ``ModelRegistry`` and return its checksum address."""
        return self._deploy("ModelRegistry", min_commit_age, max_commit_age)

    def deploy_disputes(
        self,
        registry: str,
        *,
        bond_wei: int,
        quorum: int,
        voting_period_s: int,
        admin: str | None = None,
    ) -> str:
        """Deploy ``OwnershipDisputes`` over ``registry``; ``admin`` (default: the signer) grants arbiters."""
        admin = to_checksum_address(admin or self.address)
        return self._deploy(
            "OwnershipDisputes", to_checksum_address(registry), bond_wei, quorum, voting_period_s, admin
        )

    def _deploy(self, name: str, *args: Any) -> str:
        artifact = load_artifact(name)
        factory = self.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        result = self.transact(factory.constructor(*args))
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
        events = _decode_events(events_from, receipt) if events_from is not None else []
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
    accounts = _dev_accounts(w3)
    for account in accounts:
        if w3.eth.get_balance(account.address) > 0:
            return account
    raise ChainError("no funded dev account on this chain: pass a private key")


def _dev_accounts(w3: Web3) -> list[LocalAccount]:
    provider = w3.provider
    if isinstance(provider, EthereumTesterProvider):
        keys = provider.ethereum_tester.backend.account_keys
        return [Account.from_key(k.to_bytes()) for k in keys]
    from registry import devchain  # local: devchain is only needed for Ganache/Anvil dev wallets

    return devchain.dev_accounts()


def _decode_events(contract: Contract, receipt: Any) -> list[dict[str, Any]]:
    """Every event of ``contract`` in ``receipt``, as plain dicts."""
    topics = {keccak(_event_signature(e).encode()): e["name"] for e in contract.abi if e["type"] == "event"}
    found = []
    for log in receipt["logs"]:
        if log["address"] != contract.address or not log["topics"]:
            continue
        name = topics.get(bytes(log["topics"][0]))
        if name is None:
            continue
        decoded = contract.events[name]().process_log(log)
        found.append(_event_dict(decoded))
    return found


def _event_signature(entry: dict[str, Any]) -> str:
    return f"{entry['name']}({','.join(_abi_type(i) for i in entry['inputs'])})"


def _event_dict(decoded: Any) -> dict[str, Any]:
    return {
        "event": decoded["event"],
        "args": {k: _plain(v) for k, v in dict(decoded["args"]).items()},
        "block_number": decoded["blockNumber"],
        "tx_hash": decoded["transactionHash"].to_0x_hex(),
        "log_index": decoded["logIndex"],
    }


def _call(fn: Any) -> Any:
    with translate_errors():
        return fn.call()


# --------------------------------------------------------------------------------------------- registry


class ModelRegistryClient:
    """Typed binding of ``ModelRegistry`` for one signer."""

    def __init__(self, chain: Chain, address: str) -> None:
        self.chain = chain
        self.address = to_checksum_address(address)
        self.contract = chain.contract("ModelRegistry", self.address)

    def using(self, chain: Chain) -> ModelRegistryClient:
        """The same registry, seen and signed by another account."""
        return ModelRegistryClient(chain, self.address)

    # -- writes --------------------------------------------------------------------------------

    def commit(self, commitment: bytes) -> TxResult:
        """Store a commitment; ``register`` may follow after ``min_commit_age`` blocks."""
        _check_bytes32(commitment, "commitment")
        return self._transact(self.contract.functions.commit(commitment))

    def compute_commitment(self, root: bytes, watermark_key_hash: bytes, salt: bytes) -> bytes:
        """The commitment this client's signer must make to register these values (computed locally)."""
        return compute_commitment(
            self.chain.chain_id, self.address, self.chain.address, root, watermark_key_hash, salt
        )

    def register(
        self,
        root: bytes,
        leaf_count: int,
        manifest_cid: str,
        watermark_key_hash: bytes = ZERO_HASH,
        parent_id: int = 0,
        derivation: Derivation = Derivation.NONE,
        *,
        salt: bytes,
    ) -> tuple[int, TxResult]:
        """Reveal a committed registration; returns the new record id."""
        fn = self.contract.functions.register(
            root, leaf_count, manifest_cid, watermark_key_hash, parent_id, int(derivation), salt
        )
        result = self._transact(fn)
        return int(result.event("ModelRegistered")["recordId"]), result

    def publish(
        self,
        root: bytes,
        leaf_count: int,
        manifest_cid: str,
        watermark_key_hash: bytes = ZERO_HASH,
        parent_id: int = 0,
        derivation: Derivation = Derivation.NONE,
        *,
        poll_interval_s: float = 2.0,
        timeout_s: float = 600.0,
    ) -> tuple[int, TxResult]:
        """Commit with a fresh salt, wait the minimum age, register. Returns the record id and the reveal."""
        self._precheck(root, parent_id, derivation)
        salt = os.urandom(32)
        committed = self.commit(self.compute_commitment(root, watermark_key_hash, salt))
        self._await_min_age(committed.block_number, poll_interval_s, timeout_s)
        return self.register(
            root, leaf_count, manifest_cid, watermark_key_hash, parent_id, derivation, salt=salt
        )

    def transfer(self, record_id: int, new_owner: str) -> TxResult:
        """Sell the rights to a record: only its owner may."""
        return self._transact(self.contract.functions.transfer(record_id, to_checksum_address(new_owner)))

    def revoke(self, record_id: int) -> TxResult:
        """Revoke a record: it stays readable and is reported as revoked."""
        return self._transact(self.contract.functions.revoke(record_id))

    # -- reads ---------------------------------------------------------------------------------

    def record(self, record_id: int) -> Record:
        """The record; ``UnknownRecordError`` for an unknown id."""
        raw = _call(self.contract.functions.record(record_id))
        return _record_from_tuple(record_id, raw)

    def record_id_by_root(self, root: bytes) -> int | None:
        record_id = _call(self.contract.functions.recordIdByRoot(root))
        return int(record_id) or None

    def record_count(self) -> int:
        return int(_call(self.contract.functions.recordCount()))

    def parent_of(self, record_id: int) -> tuple[int, Derivation]:
        parent_id, derivation = _call(self.contract.functions.parentOf(record_id))
        return int(parent_id), Derivation(derivation)

    def commitment_state(self, commitment: bytes) -> tuple[int, bool]:
        """(block the commitment was made in, 0 if never; whether it was consumed)."""
        block, used = _call(self.contract.functions.commitmentState(commitment))
        return int(block), bool(used)

    def commit_ages(self) -> tuple[int, int]:
        """(minimum, maximum) commitment age in blocks."""
        return int(_call(self.contract.functions.minCommitAge())), int(
            _call(self.contract.functions.maxCommitAge())
        )

    def verify_artifact(self, record_id: int, leaf: bytes, index: int, proof: Sequence[bytes]) -> bool:
        """The contract's Merkle check (same rules as ``verifier.merkle``); revocation is in ``record``."""
        return bool(_call(self.contract.functions.verifyArtifact(record_id, leaf, index, list(proof))))

    def ancestry(self, record_id: int, *, max_depth: int = MAX_ANCESTRY) -> list[Record]:
        """The record, its parent, grandparent… up to a root record (bounded by ``max_depth``)."""
        chain = [self.record(record_id)]
        while chain[-1].parent_id and len(chain) < max_depth:
            chain.append(self.record(chain[-1].parent_id))
        return chain

    def children(self, record_id: int, from_block: int = 0) -> list[int]:
        """Ids of the records registered with ``record_id`` as parent (from the indexed event topic)."""
        logs = self.contract.events.ModelRegistered.get_logs(
            from_block=from_block, argument_filters={"parentId": record_id}
        )
        return sorted(int(log["args"]["recordId"]) for log in logs)

    def lineage_graph(self, record_id: int, *, fmt: str = "text", max_nodes: int = 200) -> str:
        """The lineage family of ``record_id``: from its oldest ancestor down through every descendant.

        ``fmt="text"`` gives an indented tree (the queried record marked ``<==``), ``fmt="dot"`` Graphviz.
        Revoked records are labelled as revoked. At most ``max_nodes`` records are drawn.
        """
        top = self.ancestry(record_id)[-1]
        nodes, edges = self._family(top, max_nodes)
        if fmt == "dot":
            return _render_dot(nodes, edges, record_id)
        if fmt != "text":
            raise ValueError(f"unknown lineage format {fmt!r}: use 'text' or 'dot'")
        return _render_text(nodes, edges, top.record_id, record_id)

    def events(self, name: str, from_block: int = 0, **argument_filters: Any) -> list[dict[str, Any]]:
        """Decoded logs of event ``name`` (e.g. ``ModelRegistered``), oldest first."""
        logs = self.contract.events[name].get_logs(
            from_block=from_block, argument_filters=argument_filters or None
        )
        return [_event_dict(log) for log in logs]

    # -- internals -----------------------------------------------------------------------------

    def _transact(self, fn: Any) -> TxResult:
        return self.chain.transact(fn, events_from=self.contract)

    def _precheck(self, root: bytes, parent_id: int, derivation: Derivation) -> None:
        """Fail before spending a commit transaction on a registration that must revert."""
        _check_bytes32(root, "root")
        existing = self.record_id_by_root(root)
        if existing:
            raise DuplicateRootError(
                "ModelRegistryRootAlreadyRegistered",
                {"root": root, "recordId": existing},
                "The root is already registered.",
            )
        if parent_id:
            self.record(parent_id)
        if (parent_id == 0) != (Derivation(derivation) is Derivation.NONE):
            raise ContractRevertError(
                "ModelRegistryInvalidDerivation",
                {"parentId": parent_id, "derivation": Derivation(derivation)},
                "The derivation does not fit the parent: `None` iff `parentId == 0`.",
            )

    def _await_min_age(self, commit_block: int, poll_interval_s: float, timeout_s: float) -> None:
        """Wait until the *latest* block is ``min_commit_age`` past ``commit_block``.

        The reveal lands in a later block anyway, but some nodes (Anvil) estimate gas with ``block.number`` of
        the latest block, so an estimate made one block early would see the commitment as too new.
        """
        min_age, _ = self.commit_ages()
        ready_at = commit_block + min_age
        if self.chain.is_dev_chain:
            self.chain.mine(ready_at - self.chain.block_number())
            return
        deadline = time.monotonic() + timeout_s
        while self.chain.block_number() < ready_at:
            if time.monotonic() > deadline:
                raise ChainError(
                    f"commitment at block {commit_block} did not reach age {min_age} in {timeout_s} s"
                )
            time.sleep(poll_interval_s)

    def _family(self, top: Record, max_nodes: int) -> tuple[dict[int, Record], list[tuple[int, int]]]:
        """Breadth-first walk down from ``top``; bounded by ``max_nodes``."""
        nodes = {top.record_id: top}
        edges: list[tuple[int, int]] = []
        queue = [top.record_id]
        while queue and len(nodes) < max_nodes:
            parent = queue.pop(0)
            for child in self.children(parent):
                if child in nodes or len(nodes) >= max_nodes:
                    continue
                nodes[child] = self.record(child)
                edges.append((parent, child))
                queue.append(child)
        return nodes, edges


def _record_from_tuple(record_id: int, raw: Sequence[Any]) -> Record:
    (
        owner,
        leaf_count,
        derivation,
        revoked,
        root,
        key_hash,
        parent_id,
        commit_block,
        reg_block,
        reg_at,
        cid,
    ) = raw
    return Record(
        record_id=int(record_id),
        owner=to_checksum_address(owner),
        root=bytes(root),
        leaf_count=int(leaf_count),
        manifest_cid=str(cid),
        watermark_key_hash=bytes(key_hash),
        parent_id=int(parent_id),
        derivation=Derivation(derivation),
        commit_block=int(commit_block),
        registered_block=int(reg_block),
        registered_at=int(reg_at),
        revoked=bool(revoked),
    )


def _label(rec: Record) -> str:
    how = "" if rec.derivation is Derivation.NONE else f"{rec.derivation.name.lower().replace('_', '-')} "
    state = " [REVOKED]" if rec.revoked else ""
    return f"#{rec.record_id} {how}root 0x{rec.root.hex()[:12]}… owner {rec.owner} manifest {rec.manifest_cid}{state}"


def _render_text(nodes: dict[int, Record], edges: list[tuple[int, int]], top: int, marked: int) -> str:
    kids: dict[int, list[int]] = {}
    for parent, child in edges:
        kids.setdefault(parent, []).append(child)
    lines = [_label(nodes[top]) + ("  <==" if top == marked else "")]

    def walk(node: int, prefix: str) -> None:
        children = kids.get(node, [])
        for i, child in enumerate(children):
            last = i == len(children) - 1
            mark = "  <==" if child == marked else ""
            lines.append(f"{prefix}{'└── ' if last else '├── '}{_label(nodes[child])}{mark}")
            walk(child, prefix + ("    " if last else "│   "))

    walk(top, "")
    return "\n".join(lines) + "\n"


def _render_dot(nodes: dict[int, Record], edges: list[tuple[int, int]], marked: int) -> str:
    out = ["digraph lineage {", "  rankdir=TB;"]
    for rid, rec in sorted(nodes.items()):
        style = ', style="dashed"' if rec.revoked else ""
        peri = ", peripheries=2" if rid == marked else ""
        revoked = "\\n[REVOKED]" if rec.revoked else ""
        label = f"#{rid}\\n0x{rec.root.hex()[:12]}…{revoked}"
        out.append(f'  r{rid} [label="{label}"{style}{peri}];')
    for parent, child in edges:
        how = nodes[child].derivation.name.lower().replace("_", "-")
        out.append(f'  r{parent} -> r{child} [label="{how}"];')
    out.append("}")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------- disputes


class OwnershipDisputesClient:
    """Typed binding of ``OwnershipDisputes`` for one signer."""

    def __init__(self, chain: Chain, address: str) -> None:
        self.chain = chain
        self.address = to_checksum_address(address)
        self.contract = chain.contract("OwnershipDisputes", self.address)

    def using(self, chain: Chain) -> OwnershipDisputesClient:
        """The same contract, signed by another account (an arbiter, the suspect's owner…)."""
        return OwnershipDisputesClient(chain, self.address)

    # -- writes --------------------------------------------------------------------------------

    def open_dispute(
        self, claimant_record: int, suspect: int | bytes, evidence_cid: str, *, bond_wei: int | None = None
    ) -> tuple[int, TxResult]:
        """Open a dispute against ``suspect`` (a record id, or the Merkle root of any model) with the bond."""
        suspect_root = self._suspect_root(suspect)
        value = self.bond() if bond_wei is None else bond_wei
        fn = self.contract.functions.openDispute(claimant_record, suspect_root, evidence_cid)
        result = self.chain.transact(fn, value=value, events_from=self.contract)
        return int(result.event("DisputeOpened")["disputeId"]), result

    def reveal_key(self, dispute_id: int, key_cid: str) -> TxResult:
        """Reveal the watermark key CID; the contract checks keccak256(key_cid) against the claimant record."""
        return self._transact(self.contract.functions.revealKey(dispute_id, key_cid))

    def vote(self, dispute_id: int, uphold: bool, report_cid: str) -> TxResult:
        """An arbiter's ruling on the watermark evidence, with the CID of its report."""
        return self._transact(self.contract.functions.vote(dispute_id, bool(uphold), report_cid))

    def finalise(self, dispute_id: int) -> tuple[DisputeStatus, TxResult]:
        """Resolve after the deadline (anyone may); returns the outcome."""
        result = self._transact(self.contract.functions.finalise(dispute_id))
        return DisputeStatus(result.event("DisputeResolved")["outcome"]), result

    def withdraw(self) -> TxResult:
        """Collect bonds credited after a failed direct payment."""
        return self._transact(self.contract.functions.withdraw())

    def grant_arbiter(self, account: str) -> TxResult:
        return self._transact(
            self.contract.functions.grantRole(self.arbiter_role(), to_checksum_address(account))
        )

    def revoke_arbiter(self, account: str) -> TxResult:
        return self._transact(
            self.contract.functions.revokeRole(self.arbiter_role(), to_checksum_address(account))
        )

    # -- reads ---------------------------------------------------------------------------------

    def dispute(self, dispute_id: int) -> Dispute:
        """The dispute; ``UnknownDisputeError`` for an unknown id."""
        raw = _call(self.contract.functions.dispute(dispute_id))
        return _dispute_from_tuple(dispute_id, raw)

    def votes(self, dispute_id: int, from_block: int = 0) -> list[Vote]:
        """Every vote on the dispute with its report CID (from ``VoteCast`` events)."""
        return [
            Vote(
                int(e["args"]["disputeId"]),
                e["args"]["arbiter"],
                bool(e["args"]["uphold"]),
                e["args"]["reportCid"],
                e["block_number"],
            )
            for e in self.events("VoteCast", from_block, disputeId=dispute_id)
        ]

    def is_arbiter(self, account: str) -> bool:
        return bool(_call(self.contract.functions.hasRole(self.arbiter_role(), to_checksum_address(account))))

    def has_voted(self, dispute_id: int, account: str) -> bool:
        return bool(_call(self.contract.functions.hasVoted(dispute_id, to_checksum_address(account))))

    def arbiter_count(self) -> int:
        return int(_call(self.contract.functions.arbiterCount()))

    def dispute_count(self) -> int:
        return int(_call(self.contract.functions.disputeCount()))

    def credited(self, account: str) -> int:
        return int(_call(self.contract.functions.credited(to_checksum_address(account))))

    def bond(self) -> int:
        return int(_call(self.contract.functions.bond()))

    def quorum(self) -> int:
        return int(_call(self.contract.functions.quorum()))

    def voting_period(self) -> int:
        return int(_call(self.contract.functions.votingPeriod()))

    def registry_address(self) -> str:
        return to_checksum_address(_call(self.contract.functions.registry()))

    def arbiter_role(self) -> bytes:
        return bytes(_call(self.contract.functions.ARBITER_ROLE()))

    def events(self, name: str, from_block: int = 0, **argument_filters: Any) -> list[dict[str, Any]]:
        """Decoded logs of event ``name`` (e.g. ``DisputeOpened``), oldest first."""
        logs = self.contract.events[name].get_logs(
            from_block=from_block, argument_filters=argument_filters or None
        )
        return [_event_dict(log) for log in logs]

    # -- internals -----------------------------------------------------------------------------

    def _transact(self, fn: Any) -> TxResult:
        return self.chain.transact(fn, events_from=self.contract)

    def _suspect_root(self, suspect: int | bytes) -> bytes:
        if isinstance(suspect, (bytes, bytearray)):
            _check_bytes32(suspect, "suspect root")
            return bytes(suspect)
        registry = ModelRegistryClient(self.chain, self.registry_address())
        return registry.record(int(suspect)).root


def _dispute_from_tuple(dispute_id: int, raw: Sequence[Any]) -> Dispute:
    (
        claimant,
        claimant_record,
        priority,
        status,
        key_revealed,
        suspect_root,
        suspect_record,
        opened_at,
        deadline,
        uphold,
        reject,
        bond,
        evidence_cid,
        key_cid,
    ) = raw
    return Dispute(
        dispute_id=int(dispute_id),
        claimant=to_checksum_address(claimant),
        claimant_record=int(claimant_record),
        suspect_root=bytes(suspect_root),
        suspect_record=int(suspect_record),
        priority=Priority(priority),
        status=DisputeStatus(status),
        key_revealed=bool(key_revealed),
        key_cid=str(key_cid),
        evidence_cid=str(evidence_cid),
        opened_at=int(opened_at),
        deadline=int(deadline),
        uphold_votes=int(uphold),
        reject_votes=int(reject),
        bond=int(bond),
    )
