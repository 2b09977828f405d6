"""Plain values the contracts store and emit, and the two hashes computed off-chain exactly as on-chain.

Watermark-key hash scheme (see ``contracts/IModelRegistry.sol``): ``watermark_key_hash(key_cid) =
keccak256(utf8(key_cid))`` where ``key_cid`` is the canonical CID string (CIDv1, raw leaves, base32) of the
plaintext watermark key file.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

from eth_abi import encode as abi_encode
from eth_hash.auto import keccak
from eth_utils import to_checksum_address

ZERO_HASH = b"\x00" * 32


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
    UNDECIDED = 4  # too few votes, or a tie: the bond went back to the claimant


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
    suspect_owner: str  # the suspect record's owner at opening (a party for good); zero address if unregistered
    priority: Priority
    status: DisputeStatus
    key_revealed: bool
    key_cid: str
    data_key: bytes  # opens the claimant record's sealed key artifact; 32 zero bytes until revealed
    evidence_cid: str  # the public summary pinned at opening
    evidence_hash: bytes  # SHA-256 of the full report, committed at opening
    report_cid: str  # the full report, pinned at the reveal ("" until then)
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
        check_bytes32(value, what)
    encoded = abi_encode(
        ["uint256", "address", "address", "bytes32", "bytes32", "bytes32"],
        [chain_id, to_checksum_address(registry), to_checksum_address(sender), root, key_hash, salt],
    )
    return keccak(encoded)


def check_bytes32(value: bytes, what: str) -> None:
    if not isinstance(value, (bytes, bytearray)) or len(value) != 32:
        raise ValueError(f"{what} must be 32 bytes")
