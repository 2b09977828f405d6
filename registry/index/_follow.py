"""Reading the contracts' history from a node: confirmed head, block hashes, and events by block range.

Only reads, through ``registry.chain`` (no web3). A range whose answer is too large for the transport's bound
is split in two and read again, so a busy stretch of chain never defeats the scan.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from registry.chain import abi
from registry.chain.connection import Chain
from registry.chain.errors import ChainError, ChainUnavailableError
from registry.index import _decode
from registry.index._project import REGISTRY_EVENTS, Event

if TYPE_CHECKING:
    from registry.backends import Backends

CHUNK_BLOCKS = 5_000
"""Blocks per ``eth_getLogs`` at most: public nodes commonly refuse wider ranges."""
FIRST_SPAN = 64
"""Blocks read first; later ranges are sized by the events found (``next_span``)."""
TARGET_EVENTS = 10_000
"""Events per range aimed at: a dense stretch is read in narrower ranges, so an answer stays far below the
transport's bound (an answer refused as too large has cost the node all its work, and is then read again
in halves) and a range's transaction and decoded events stay small."""


def next_span(blocks: int, events: int) -> int:
    """The width of the next range after ``blocks`` blocks held ``events`` events: as many blocks as held
    about ``TARGET_EVENTS`` at that density, between 1 and ``CHUNK_BLOCKS``."""
    return max(1, min(CHUNK_BLOCKS, blocks * TARGET_EVENTS // max(events, 1)))


@dataclasses.dataclass(frozen=True)
class Contracts:
    """The pair of contracts an index follows, and the block their history starts at."""

    chain_id: int
    registry: str
    disputes: str
    deployed_at: int

    @classmethod
    def of(cls, backends: Backends) -> Contracts:
        """The pair ``backends`` read and write, from their deployment block."""
        return cls(
            backends.chain.chain_id,
            backends.registry.address,
            backends.disputes.address,
            backends.registry.deployed_at,
        )

    def identity(self) -> str:
        """What the index's events depend on (not ``deployed_at``: no block before it holds their events)."""
        return f"{self.chain_id}:{self.registry}:{self.disputes}"


@dataclasses.dataclass(frozen=True)
class Header:
    number: int
    hash: str
    timestamp: int


def confirmed_head(chain: Chain) -> int:
    """The newest block with the chain's confirmations on top."""
    block = chain.confirmed_block()
    return chain.block_number() if block == "latest" else int(block)


def header(chain: Chain, number: int) -> Header | None:
    """Block ``number``'s hash and time, or None when the node has no such block (any more)."""
    try:
        found = chain.block(number)
    except ChainUnavailableError:
        raise
    except ChainError:
        return None
    return Header(number, _hex(found["hash"]), abi.to_int(found["timestamp"]))


def events(chain: Chain, contracts: Contracts, start: int, end: int) -> tuple[list[Event], dict[int, str]]:
    """Both contracts' events in blocks ``start..end``, oldest first, and the hash of each block holding one.

    Two logs of one block that name different hashes mean the node changed branch mid-answer: ChainError.
    """
    raw = _logs(chain, contracts.registry, _registry_topics(), start, end)
    raw += _logs(chain, contracts.disputes, [], start, end)
    found: list[Event] = []
    hashes: dict[int, str] = {}
    for log in raw:
        contract = "ModelRegistry" if _same(log["address"], contracts.registry) else "OwnershipDisputes"
        decoded = _decode.decode(contract, log)
        if decoded is None or (contract == "ModelRegistry" and decoded["event"] not in REGISTRY_EVENTS):
            continue
        number, block_hash = decoded["block_number"], _hex(log["blockHash"])
        if hashes.setdefault(number, block_hash) != block_hash:
            raise ChainError(f"block {number} was reported with two hashes: the node switched branch")
        found.append(
            Event(
                number, decoded["log_index"], decoded["tx_hash"], contract, decoded["event"], decoded["args"]
            )
        )
    found.sort(key=lambda e: (e.block, e.log_index))
    return found, hashes


def _registry_topics() -> list[Any]:
    """topic0 is any of the registry events the index reads (one OR-list)."""
    return [[abi.event_topics("ModelRegistry", name)[0] for name in REGISTRY_EVENTS]]


def _logs(chain: Chain, address: str, topics: list[Any], start: int, end: int) -> list[dict[str, Any]]:
    """``eth_getLogs`` over ``start..end``, halving a range whose answer is too large."""
    try:
        return chain.get_logs(address, topics, from_block=start, to_block=end)
    except ChainUnavailableError:
        raise
    except ChainError as err:
        if end <= start or "more than" not in str(err):
            raise
    middle = (start + end) // 2
    return _logs(chain, address, topics, start, middle) + _logs(chain, address, topics, middle + 1, end)


def _hex(value: Any) -> str:
    return "0x" + abi.to_bytes(value).hex()


def _same(a: str, b: str) -> bool:
    return a.lower() == b.lower()
