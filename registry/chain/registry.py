"""``ModelRegistryClient``: commit–reveal registration, records, Merkle proofs and lineage reads.

Registration is two transactions (DESIGN.md §5): a commitment bound to the signer, then after the minimum age
the reveal; ``publish`` does both. Reads return ``Record`` values as of the chain's confirmed block (a record
not final yet is ``PendingRecordError``); rendering lives in ``registry.lineage``.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence
from typing import Any

from eth_utils import to_checksum_address

from ipfs.cid import Cid
from ipfs.errors import InvalidCidError
from registry.chain import abi
from registry.chain.client import ContractClient
from registry.chain.errors import (
    ChainError,
    ContractRevertError,
    DuplicateRootError,
    PendingRecordError,
    RecordMismatchError,
    UnknownRecordError,
    WatermarkKeyTakenError,
)
from registry.chain.types import ZERO_HASH, Derivation, Record, TxResult, check_bytes32, compute_commitment

MAX_ANCESTRY = 256


class ModelRegistryClient(ContractClient):
    """Typed binding of ``ModelRegistry`` for one signer."""

    contract_name = "ModelRegistry"

    # -- writes --------------------------------------------------------------------------------

    def commit(self, commitment: bytes) -> TxResult:
        """Store a commitment; ``register`` may follow after ``min_commit_age`` blocks."""
        check_bytes32(commitment, "commitment")
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
        """Reveal a committed registration; returns the new record id. The manifest CID is stored as its
        digest and codec tag (``manifest_cid_fields``)."""
        digest, codec = manifest_cid_fields(manifest_cid)
        fn = self.contract.functions.register(
            root, leaf_count, digest, codec, watermark_key_hash, parent_id, int(derivation), salt
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
        salt: bytes | None = None,
    ) -> tuple[int, TxResult]:
        """Commit, wait the minimum age, register. Returns the record id and the reveal.

        ``salt`` (default: a fresh one) lets a publication resume (``registry.journal``): when this signer's
        commitment with that salt is still pending and young enough it is revealed, not made again; an expired
        one is left and a fresh salt used. Commitments are keyed by committer, so a copy of our pending
        ``commit`` by another account can neither make ours revert nor be revealed by them.
        """
        manifest_cid_fields(manifest_cid)
        self._precheck(root, watermark_key_hash, parent_id, derivation)
        commit_block = 0
        if salt is not None:
            commit_block = self.commitment_state(self.compute_commitment(root, watermark_key_hash, salt))
            if commit_block and not self._revealable(commit_block):
                commit_block, salt = 0, None  # ours, but too old to reveal, and it cannot be made again
        if not commit_block:
            salt = salt or os.urandom(32)
            commit_block = self.commit(self.compute_commitment(root, watermark_key_hash, salt)).block_number
        self._await_min_age(commit_block, poll_interval_s, timeout_s)
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
        """The record as of the confirmed block; ``UnknownRecordError`` for an unknown id, and its subclass
        ``PendingRecordError`` for a record registered in a block without enough confirmations yet.

        Chain state keeps what contracts read by id; the hashes (root, manifest CID, key hash) come from the
        record's ``ModelRegistered`` event, in the block the state names, and are checked against the root and
        key-hash indexes before they are believed (``RecordMismatchError`` otherwise).
        """
        try:
            state = _RecordState.from_tuple(self.call("record", record_id))
        except UnknownRecordError as err:
            raise self._pending(record_id) or err
        event = self._registration_event(record_id, state.registered_block)
        root, key_hash = bytes(event["root"]), bytes(event["watermarkKeyHash"])
        indexed_id, parent_id, leaf_count, registered_at = self.call("rootFacts", root)
        if int(indexed_id) != record_id or state.keyed != (key_hash != ZERO_HASH):
            raise _mismatch(record_id, "its event's root or key does not index to it")
        if state.keyed and self.record_of_key_hash(key_hash) != record_id:
            raise _mismatch(record_id, "its event's watermark-key hash is anchored by another record")
        try:
            manifest_cid = manifest_cid_string(event["manifestDigest"], event["manifestCodec"])
        except InvalidCidError:
            raise _mismatch(record_id, "its event's manifest CID tag is not a CID codec") from None
        return Record(
            record_id=record_id,
            owner=state.owner,
            root=root,
            leaf_count=int(leaf_count),
            manifest_cid=manifest_cid,
            watermark_key_hash=key_hash,
            parent_id=int(parent_id),
            derivation=state.derivation,
            commit_block=state.commit_block,
            registered_block=state.registered_block,
            registered_at=int(registered_at),
            revoked=state.revoked,
        )

    def record_id_by_root(self, root: bytes) -> int | None:
        record_id = self.call("recordIdByRoot", root)
        return int(record_id) or None

    def record_count(self) -> int:
        return int(self.call("recordCount"))

    def parent_of(self, record_id: int) -> tuple[int, Derivation]:
        rec = self.record(record_id)
        return rec.parent_id, rec.derivation

    def record_of_key_hash(self, watermark_key_hash: bytes) -> int | None:
        """The record that anchors this watermark-key hash (the first to register it), or None."""
        record_id = self.call("recordOfKeyHash", watermark_key_hash)
        return int(record_id) or None

    def commitment_state(self, commitment: bytes, committer: str | None = None) -> int:
        """The block ``committer`` (default: this signer) made ``commitment`` in; 0 if not pending (never made
        or already consumed)."""
        who = to_checksum_address(committer or self.chain.address)
        return int(self.call("commitmentState", who, commitment))

    def commit_ages(self) -> tuple[int, int]:
        """(minimum, maximum) commitment age in blocks."""
        return int(self.call("minCommitAge")), int(self.call("maxCommitAge"))

    def verify_artifact(
        self, record_id: int, root: bytes, leaf: bytes, index: int, proof: Sequence[bytes]
    ) -> bool:
        """The contract's Merkle check (same rules as ``verifier.integrity.merkle``) under ``root``, which must be
        the record's (``ModelRegistryNotRecordRoot`` otherwise); revocation is in ``record``."""
        return bool(self.call("verifyArtifact", record_id, root, leaf, index, list(proof)))

    def ancestry(self, record_id: int, *, max_depth: int = MAX_ANCESTRY) -> list[Record]:
        """The record, its parent, grandparent… up to a root record (bounded by ``max_depth``)."""
        chain = [self.record(record_id)]
        while chain[-1].parent_id and len(chain) < max_depth:
            chain.append(self.record(chain[-1].parent_id))
        return chain

    def children(self, record_id: int) -> list[int]:
        """Ids of the records registered with ``record_id`` as parent (from the indexed event topic)."""
        logs = self.events("ModelRegistered", parentId=record_id)
        return sorted(int(log["args"]["recordId"]) for log in logs)

    # -- internals -----------------------------------------------------------------------------

    def _pending(self, record_id: int) -> PendingRecordError | None:
        """When ``record_id`` exists at the latest block only: the error saying it is not final yet."""
        if self.chain.confirmations == 0:
            return None
        data = abi.encode_call(self.contract_name, "record", (record_id,))
        try:
            raw = abi.decode_result(
                self.contract_name, "record", self.chain.call(self.address, data, "latest")
            )
        except UnknownRecordError:
            return None
        block = _RecordState.from_tuple(raw).registered_block
        have = max(0, self.chain.block_number() - block)
        return PendingRecordError(
            "ModelRegistryUnknownRecord",
            {"recordId": record_id},
            f"record {record_id} was registered in block {block}, which has {have} of the "
            f"{self.chain.confirmations} confirmations required: it is pending, not final",
        )

    def _registration_event(self, record_id: int, block: int) -> dict[str, Any]:
        """The one ``ModelRegistered`` log of ``record_id``, read from the block its state names."""
        logs = self.events("ModelRegistered", from_block=block, to_block=block, recordId=record_id)
        if len(logs) != 1:
            raise _mismatch(
                record_id,
                f"the node returned {len(logs)} registration events in block {block}, not 1 "
                "(a node that expired its log history cannot serve records: use one that keeps it)",
            )
        return logs[0]["args"]

    def _precheck(self, root: bytes, key_hash: bytes, parent_id: int, derivation: Derivation) -> None:
        """Fail before spending a commit transaction on a registration that must revert (and so before a
        reveal that would revert could expose the key hash, see ``ModelRegistry.sol``)."""
        check_bytes32(root, "root")
        check_bytes32(key_hash, "watermark key hash")
        existing = self.record_id_by_root(root)
        if existing:
            raise DuplicateRootError(
                "ModelRegistryRootAlreadyRegistered",
                {"root": root, "recordId": existing},
                "The root is already registered.",
            )
        holder = self.record_of_key_hash(key_hash) if key_hash != ZERO_HASH else None
        if holder:
            raise WatermarkKeyTakenError(
                "ModelRegistryWatermarkKeyTaken",
                {"keyHash": key_hash, "recordId": holder},
                "The watermark-key hash is already anchored by record `recordId`, which owns it.",
            )
        if parent_id:
            self.record(parent_id)
        if (parent_id == 0) != (Derivation(derivation) is Derivation.NONE):
            raise ContractRevertError(
                "ModelRegistryInvalidDerivation",
                {"parentId": parent_id, "derivation": Derivation(derivation)},
                "The derivation does not fit the parent: `None` iff `parentId == 0`.",
            )

    def _revealable(self, commit_block: int) -> bool:
        """Whether a reveal in the next block would still find a commitment made in ``commit_block`` young enough."""
        _, max_age = self.commit_ages()
        return self.chain.block_number() + 1 - commit_block <= max_age

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


def manifest_cid_fields(manifest_cid: str) -> tuple[bytes, int]:
    """(sha2-256 digest, tag) as the registry stores a manifest CID: tag 0 for CIDv0, else the CIDv1 codec.

    Raises ``InvalidCidError`` (a ``ValueError``) for anything the registry cannot rebuild into the same CID.
    """
    cid = Cid.parse(manifest_cid)
    return cid.digest, 0 if cid.version == 0 else cid.codec


def manifest_cid_string(digest: bytes, tag: int) -> str:
    """The canonical CID string of a stored (digest, tag): ``Qm…`` for CIDv0, base32 ``b…`` for CIDv1."""
    if tag == 0:
        return str(Cid(version=0, codec=0x70, digest=bytes(digest)))
    return str(Cid(version=1, codec=int(tag), digest=bytes(digest)))


@dataclasses.dataclass(frozen=True)
class _RecordState:
    """What ``ModelRegistry.record`` returns: the fields contracts read by id."""

    owner: str
    derivation: Derivation
    revoked: bool
    keyed: bool
    commit_block: int
    registered_block: int

    @classmethod
    def from_tuple(cls, raw: Sequence[Any]) -> _RecordState:
        owner, derivation, revoked, keyed, commit_block, registered_block = raw
        return cls(
            to_checksum_address(owner),
            Derivation(derivation),
            bool(revoked),
            bool(keyed),
            int(commit_block),
            int(registered_block),
        )


def _mismatch(record_id: int, why: str) -> RecordMismatchError:
    return RecordMismatchError(f"record {record_id} cannot be read consistently: {why}")
