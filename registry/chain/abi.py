"""ABI loading and decoding: the compiled artifacts (package data), revert data and event logs.

The artifacts ship inside the package (``registry/chain/artifacts/``, written by ``contracts/build.py``) and
load through ``importlib.resources``, so an installed wheel needs neither the checkout nor a compiler.
Reverts are decoded by selector over both contracts' custom errors, so an error bubbling from the registry
through the disputes contract is still named.
"""

from __future__ import annotations

import ast
import functools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

from eth_abi import decode as abi_decode
from eth_hash.auto import keccak
from eth_utils import to_checksum_address
from web3.contract import Contract
from web3.exceptions import ContractLogicError, ContractPanicError

from registry.chain.errors import ERROR_CLASSES, ChainError, ContractRevertError

try:  # eth-tester is the in-process EVM; a production install may lack it
    from eth_tester.exceptions import TransactionFailed as _TesterTransactionFailed
except ImportError:  # pragma: no cover

    class _TesterTransactionFailed(Exception):  # type: ignore[no-redef]
        """Placeholder that never matches when eth-tester is absent."""


CONTRACT_NAMES = ("ModelRegistry", "OwnershipDisputes")


@functools.cache
def load_artifact(name: str) -> dict[str, Any]:
    """The compiled artifact ``<name>.json`` shipped as package data (no compiler needed at run time)."""
    resource = resources.files("registry.chain") / "artifacts" / f"{name}.json"
    try:
        return json.loads(resource.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ChainError(
            f"contract artifact {name}.json is missing from the installed package: "
            "reinstall Ledgermark, or run `python contracts/build.py` in a checkout"
        ) from err


@functools.cache
def _error_table() -> dict[bytes, tuple[str, list[str], list[str], str]]:
    """4-byte selector -> (name, arg names, arg types, NatSpec text) over every contract's custom errors."""
    table: dict[bytes, tuple[str, list[str], list[str], str]] = {}
    for artifact_name in CONTRACT_NAMES:
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
    return ERROR_CLASSES.get(name, ContractRevertError)(name, args, doc)


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


def decode_events(contract: Contract, receipt: Any) -> list[dict[str, Any]]:
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
        found.append(event_dict(decoded))
    return found


def _event_signature(entry: dict[str, Any]) -> str:
    return f"{entry['name']}({','.join(_abi_type(i) for i in entry['inputs'])})"


def event_dict(decoded: Any) -> dict[str, Any]:
    return {
        "event": decoded["event"],
        "args": {k: _plain(v) for k, v in dict(decoded["args"]).items()},
        "block_number": decoded["blockNumber"],
        "tx_hash": decoded["transactionHash"].to_0x_hex(),
        "log_index": decoded["logIndex"],
    }


def call(fn: Any) -> Any:
    with translate_errors():
        return fn.call()
