"""``OwnershipDisputesClient``: open, reveal, vote, finalise, and the arbiter role (DESIGN.md §5)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_utils import to_checksum_address

from registry.chain.client import ContractClient
from registry.chain.registry import ModelRegistryClient
from registry.chain.types import Dispute, DisputeStatus, Priority, TxResult, Vote, check_bytes32


class OwnershipDisputesClient(ContractClient):
    """Typed binding of ``OwnershipDisputes`` for one signer."""

    contract_name = "OwnershipDisputes"

    # -- writes --------------------------------------------------------------------------------

    def open_dispute(
        self, claimant_record: int, suspect: int | bytes, evidence_cid: str, *, bond_wei: int | None = None
    ) -> tuple[int, TxResult]:
        """Open a dispute against ``suspect`` (a record id, or the Merkle root of any model) with the bond."""
        suspect_root = self._suspect_root(suspect)
        value = self.bond() if bond_wei is None else bond_wei
        fn = self.contract.functions.openDispute(claimant_record, suspect_root, evidence_cid)
        result = self._transact(fn, value=value)
        return int(result.event("DisputeOpened")["disputeId"]), result

    def reveal_key(self, dispute_id: int, key_cid: str, data_key: bytes) -> TxResult:
        """Reveal the key CID (checked on-chain against the claimant record) and the sealed copy's data key."""
        check_bytes32(data_key, "data key")
        return self._transact(self.contract.functions.revealKey(dispute_id, key_cid, bytes(data_key)))

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
        raw = self.call("dispute", dispute_id)
        return _dispute_from_tuple(dispute_id, raw)

    def votes(self, dispute_id: int) -> list[Vote]:
        """Every vote on the dispute with its report CID (from ``VoteCast`` events)."""
        return [
            Vote(
                int(e["args"]["disputeId"]),
                e["args"]["arbiter"],
                bool(e["args"]["uphold"]),
                e["args"]["reportCid"],
                e["block_number"],
            )
            for e in self.events("VoteCast", disputeId=dispute_id)
        ]

    def is_arbiter(self, account: str) -> bool:
        return bool(self.call("hasRole", self.arbiter_role(), to_checksum_address(account)))

    def has_voted(self, dispute_id: int, account: str) -> bool:
        return bool(self.call("hasVoted", dispute_id, to_checksum_address(account)))

    def arbiter_count(self) -> int:
        return int(self.call("arbiterCount"))

    def dispute_count(self) -> int:
        return int(self.call("disputeCount"))

    def credited(self, account: str) -> int:
        return int(self.call("credited", to_checksum_address(account)))

    def bond(self) -> int:
        return int(self.call("bond"))

    def quorum(self) -> int:
        return int(self.call("quorum"))

    def voting_period(self) -> int:
        return int(self.call("votingPeriod"))

    def registry_address(self) -> str:
        return to_checksum_address(self.call("registry"))

    def arbiter_role(self) -> bytes:
        return bytes(self.call("ARBITER_ROLE"))

    # -- internals -----------------------------------------------------------------------------

    def _suspect_root(self, suspect: int | bytes) -> bytes:
        if isinstance(suspect, (bytes, bytearray)):
            check_bytes32(suspect, "suspect root")
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
        data_key,
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
        data_key=bytes(data_key),
        evidence_cid=str(evidence_cid),
        opened_at=int(opened_at),
        deadline=int(deadline),
        uphold_votes=int(uphold),
        reject_votes=int(reject),
        bond=int(bond),
    )
