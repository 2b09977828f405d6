"""ABI loading, encoding and decoding: the compiled artifacts (package data), calls, revert data and event logs.

The artifacts ship inside the package (``registry/chain/artifacts/``, written by ``contracts/build.py``) and
load through ``importlib.resources``, so an installed wheel needs neither the checkout nor a compiler.
Everything here is ``eth_abi`` over the packaged ABI, with no web3: contract reads (selector + arguments, result
decoding), event logs and revert data decode the same way on every chain and provider. Reverts are decoded by
selector over both contracts' custom errors, so an error bubbling from the registry through the disputes
contract is still named.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_abi.exceptions import EncodingError
from eth_hash.auto import keccak
from eth_utils import to_checksum_address

from registry.chain.errors import ERROR_CLASSES, ChainError, ContractRevertError

CONTRACT_NAMES = ("ModelRegistry", "OwnershipDisputes")
_ERROR_STRING = bytes.fromhex("08c379a0")  # Error(string): require(cond, "reason")
_PANIC = bytes.fromhex("4e487b71")  # Panic(uint256): assert, overflow, division by zero...


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


def _abi_type(item: dict[str, Any]) -> str:
    if item["type"].startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in item["components"])
        return f"({inner}){item['type'][5:]}"
    return item["type"]


def _signature(entry: dict[str, Any]) -> str:
    return f"{entry['name']}({','.join(_abi_type(i) for i in entry['inputs'])})"


def _entries(contract: str, kind: str) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in load_artifact(contract)["abi"] if e["type"] == kind}


# -- calls ------------------------------------------------------------------------------------------


@functools.cache
def _function(contract: str, name: str) -> tuple[bytes, list[str], list[str]]:
    """(selector, input types, output types) of ``contract.name`` (the contracts have no overloads)."""
    entry = _entries(contract, "function").get(name)
    if entry is None:
        raise ChainError(f"{contract} has no function {name!r}")
    inputs = [_abi_type(i) for i in entry["inputs"]]
    outputs = [_abi_type(o) for o in entry["outputs"]]
    return keccak(_signature(entry).encode())[:4], inputs, outputs


def encode_call(contract: str, name: str, args: Sequence[Any]) -> bytes:
    """Calldata for ``contract.name(*args)``: the 4-byte selector and the ABI-encoded arguments."""
    selector, inputs, _ = _function(contract, name)
    if len(args) != len(inputs):
        raise ChainError(f"{contract}.{name} takes {len(inputs)} arguments, got {len(args)}")
    try:
        return selector + abi_encode(inputs, list(args))
    except EncodingError as err:  # an id above 2**256, a negative amount: the caller's value, not a bug
        raise ChainError(
            f"{contract}.{name}: an argument cannot be sent ({str(err).splitlines()[0][:200]})"
        ) from None


def decode_result(contract: str, name: str, data: bytes) -> Any:
    """The call's return value, as web3 would give it: one value alone, several as a tuple."""
    _, _, outputs = _function(contract, name)
    values = abi_decode(outputs, data)
    return values[0] if len(values) == 1 else values


# -- events -----------------------------------------------------------------------------------------


@functools.cache
def _event_table(contract: str) -> dict[bytes, dict[str, Any]]:
    """topic0 -> event ABI entry."""
    return {keccak(_signature(e).encode()): e for e in _entries(contract, "event").values()}


def event_topics(contract: str, name: str, filters: Mapping[str, Any] | None = None) -> list[str | None]:
    """``eth_getLogs`` topics selecting event ``name`` and the given values of its indexed arguments."""
    entry = _entries(contract, "event").get(name)
    if entry is None:
        raise ChainError(f"{contract} has no event {name!r}")
    filters = dict(filters or {})
    topics: list[str | None] = ["0x" + keccak(_signature(entry).encode()).hex()]
    for item in (i for i in entry["inputs"] if i["indexed"]):
        value = filters.pop(item["name"], None)
        topics.append(None if value is None else "0x" + abi_encode([_abi_type(item)], [value]).hex())
    if filters:
        raise ChainError(f"{contract}.{name} has no indexed argument(s) {', '.join(sorted(filters))}")
    while topics[-1] is None:
        topics.pop()
    return topics


def decode_log(contract: str, log: Mapping[str, Any]) -> dict[str, Any] | None:
    """One log (JSON-RPC or web3 receipt form) as ``{"event", "args", "block_number", "tx_hash", "log_index"}``.

    None when the log is not one of ``contract``'s events.
    """
    topics = [to_bytes(t) for t in log.get("topics") or []]
    entry = _event_table(contract).get(topics[0]) if topics else None
    if entry is None:
        return None
    indexed = [i for i in entry["inputs"] if i["indexed"]]
    plain = [i for i in entry["inputs"] if not i["indexed"]]
    args: dict[str, Any] = {}
    for item, topic in zip(indexed, topics[1:]):
        args[item["name"]] = abi_decode([_abi_type(item)], topic)[0]
    values = abi_decode([_abi_type(i) for i in plain], to_bytes(log.get("data") or b""))
    args.update((item["name"], value) for item, value in zip(plain, values))
    return {
        "event": entry["name"],
        "args": {i["name"]: _plain(args[i["name"]]) for i in entry["inputs"]},
        "block_number": to_int(log["blockNumber"]),
        "tx_hash": "0x" + to_bytes(log["transactionHash"]).hex(),
        "log_index": to_int(log["logIndex"]),
    }


def decode_logs(contract: str, address: str, logs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The logs emitted by ``contract`` at ``address``, decoded; other contracts' logs are skipped."""
    found = []
    for log in logs:
        if to_checksum_address(log["address"]) != address:
            continue
        decoded = decode_log(contract, log)
        if decoded is not None:
            found.append(decoded)
    return found


# -- reverts ----------------------------------------------------------------------------------------


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
            signature = _signature(entry)
            names = [i["name"] for i in entry["inputs"]]
            table[keccak(signature.encode())[:4]] = (entry["name"], names, types, docs.get(signature, ""))
    return table


def decode_revert(data: str | bytes | None) -> ContractRevertError:
    """Turn revert data (selector + ABI args) into the matching ``ContractRevertError`` subclass."""
    raw = bytes.fromhex(data.removeprefix("0x")) if isinstance(data, str) else data or b""
    if len(raw) < 4:
        return ContractRevertError("Revert", {}, "the contract reverted without an error")
    if raw[:4] == _PANIC:
        (code,) = abi_decode(["uint256"], raw[4:])
        reason = f"Panic error 0x{code:02x}"
        return ContractRevertError("Panic", {"reason": reason}, "Solidity panic (assert, overflow, ...)")
    if raw[:4] == _ERROR_STRING:
        (reason,) = abi_decode(["string"], raw[4:])
        return ContractRevertError("Error", {"reason": reason}, "the contract reverted")
    entry = _error_table().get(raw[:4])
    if entry is None:
        return ContractRevertError("UnknownError", {"data": raw}, "revert data matches no known custom error")
    name, arg_names, types, doc = entry
    values = abi_decode(types, raw[4:])
    args = {n: _plain(v) for n, v in zip(arg_names, values)}
    return ERROR_CLASSES.get(name, ContractRevertError)(name, args, doc)


def revert_from_rpc(data: bytes | None, message: str) -> ContractRevertError:
    """A reverted call as the node reported it: decoded revert data, else the node's message."""
    if data is not None and len(data) >= 4:
        return decode_revert(data)
    return ContractRevertError("Error", {"reason": message}, "the contract reverted")


# -- values -----------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return to_checksum_address(value)
    return value


def to_bytes(value: Any) -> bytes:
    """Bytes from a JSON-RPC hex string or a bytes-like value (web3's HexBytes)."""
    if isinstance(value, str):
        return bytes.fromhex(value.removeprefix("0x"))
    return bytes(value)


def to_int(value: Any) -> int:
    """An int from a JSON-RPC quantity (hex string) or an int (eth-tester answers with ints)."""
    return int(value, 16) if isinstance(value, str) else int(value)
