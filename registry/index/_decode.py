"""Event logs decoded for the index, fast where it matters.

At scale nearly every log is the registry's ``ModelRegistered``, whose arguments are all static 32-byte words;
eth_abi's general decoder spends ~1 ms on each. Events made only of static elementary types (integers,
addresses, booleans, ``bytesN``) are decoded here word by word from the packaged ABI; any other event goes
through ``registry.chain.abi.decode_log``. Both give the same JSON-ready arguments (bytes as ``0x`` hex,
addresses checksummed): a test holds them equal on real logs.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from eth_hash.auto import keccak
from eth_utils import to_checksum_address

from registry.chain import abi

_STATIC = re.compile(r"(u?int)(\d*)|address|bool|bytes([1-9]|[12]\d|3[0-2])")

Field = tuple[str, str, bool]  # (name, type, indexed)


@functools.cache
def _static_events(contract: str) -> dict[bytes, tuple[str, tuple[Field, ...]]]:
    """topic0 → (event name, its inputs) for the contract's events whose inputs are all static elementary."""
    table = {}
    for entry in abi.load_artifact(contract)["abi"]:
        if entry["type"] != "event":
            continue
        types = [i["type"] for i in entry["inputs"]]
        if all(_STATIC.fullmatch(t) for t in types):
            signature = f"{entry['name']}({','.join(types)})"
            fields = tuple((i["name"], i["type"], bool(i["indexed"])) for i in entry["inputs"])
            table[keccak(signature.encode())] = (entry["name"], fields)
    return table


@functools.lru_cache(maxsize=65_536)
def checksum(word: bytes) -> str:
    """The checksummed address in a 32-byte word (cached: owners and contracts repeat across logs)."""
    return to_checksum_address(word[12:])


def _value(kind: str, word: bytes) -> Any:
    match = _STATIC.fullmatch(kind)
    assert match is not None  # only static kinds reach here
    if kind == "address":
        return checksum(word)
    if kind == "bool":
        return word[-1] != 0
    if match.group(1):
        return int.from_bytes(word, "big", signed=match.group(1) == "int")
    return "0x" + word[: int(match.group(3))].hex()


def decode(contract: str, log: Mapping[str, Any]) -> dict[str, Any] | None:
    """``{"event", "args", "block_number", "tx_hash", "log_index"}`` with JSON-ready args; None when the log
    is not one of ``contract``'s events."""
    topics = log.get("topics") or []
    found = _static_events(contract).get(abi.to_bytes(topics[0])) if topics else None
    if found is None:
        decoded = abi.decode_log(contract, log)
        if decoded is not None:
            decoded["args"] = {k: _jsonable(v) for k, v in decoded["args"].items()}
        return decoded
    name, fields = found
    data = abi.to_bytes(log.get("data") or b"")
    indexed = iter(topics[1:])
    offset, args = 0, {}
    for field, kind, is_indexed in fields:
        if is_indexed:
            word = abi.to_bytes(next(indexed))
        else:
            word, offset = data[offset : offset + 32], offset + 32
        if len(word) != 32:
            raise ValueError(f"{contract}.{name} log is too short for its ABI")
        args[field] = _value(kind, word)
    return {
        "event": name,
        "args": args,
        "block_number": abi.to_int(log["blockNumber"]),
        "tx_hash": "0x" + abi.to_bytes(log["transactionHash"]).hex(),
        "log_index": abi.to_int(log["logIndex"]),
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
