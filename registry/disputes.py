"""The ownership-dispute flow on the chain binding, as plain functions the CLI and the API both call.

Open (claimant, with the bond and the evidence CID) → reveal the watermark key (claimant) → arbiters vote with
report CIDs → finalise after the deadline (anyone). The watermark evidence and the arbiters' reports are made by
``verifier`` code elsewhere; this module only takes their CIDs.

Each step checks locally what the contract would reject for a predictable reason (wrong key CID, deadline
not reached), so a caller gets the same named error without paying for a failing transaction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from registry import chain as chainlib


@dataclasses.dataclass(frozen=True)
class DisputeReport:
    """Everything known about one dispute, for display: the stored state plus every vote's report."""

    dispute: chainlib.Dispute
    votes: list[chainlib.Vote]
    quorum: int
    arbiter_count: int

    @property
    def resolved(self) -> bool:
        return self.dispute.status in (chainlib.DisputeStatus.UPHELD, chainlib.DisputeStatus.REJECTED)


@dataclasses.dataclass(frozen=True)
class Resolution:
    dispute_id: int
    outcome: chainlib.DisputeStatus
    recipient: str
    bond_wei: int
    tx: chainlib.TxResult


def open_dispute(
    disputes: chainlib.OwnershipDisputesClient, claimant_record: int, suspect: int | bytes, evidence_cid: str
) -> tuple[chainlib.Dispute, chainlib.TxResult]:
    """Open a dispute of ``claimant_record`` against ``suspect`` (record id or any model's Merkle root)."""
    dispute_id, tx = disputes.open_dispute(claimant_record, suspect, evidence_cid)
    return disputes.dispute(dispute_id), tx


def reveal_key(
    disputes: chainlib.OwnershipDisputesClient, dispute_id: int, key_cid: str
) -> chainlib.TxResult:
    """Reveal the claimant's watermark key CID, after checking it against the record's hash locally."""
    dispute = disputes.dispute(dispute_id)
    registry = chainlib.ModelRegistryClient(disputes.chain, disputes.registry_address())
    expected = registry.record(dispute.claimant_record).watermark_key_hash
    actual = chainlib.watermark_key_hash(key_cid)
    if actual != expected:
        raise chainlib.ContractRevertError(
            "OwnershipDisputesKeyHashMismatch",
            {"disputeId": dispute_id, "expected": expected, "actual": actual},
            "keccak256 of this key CID is not the watermark-key hash the claimant record committed to",
        )
    return disputes.reveal_key(dispute_id, key_cid)


def vote(
    disputes: chainlib.OwnershipDisputesClient, dispute_id: int, uphold: bool, report_cid: str
) -> chainlib.TxResult:
    """Cast the signing arbiter's vote with the CID of its evidence report."""
    return disputes.vote(dispute_id, uphold, report_cid)


def finalise(
    disputes: chainlib.OwnershipDisputesClient, dispute_id: int, *, skip_wait_on_dev_chain: bool = False
) -> Resolution:
    """Resolve the dispute once its deadline has passed.

    With ``skip_wait_on_dev_chain`` a dev chain's clock is advanced past the deadline first (demos, tests);
    otherwise an early call raises ``DisputeStateError`` (``OwnershipDisputesVotingOpen``) without a transaction.
    """
    dispute = disputes.dispute(dispute_id)
    now = disputes.chain.w3.eth.get_block("latest")["timestamp"]
    if dispute.status is chainlib.DisputeStatus.OPEN and now <= dispute.deadline:
        if skip_wait_on_dev_chain and disputes.chain.is_dev_chain:
            disputes.chain.time_travel(dispute.deadline - now + 1)
        else:
            raise chainlib.DisputeStateError(
                "OwnershipDisputesVotingOpen",
                {"disputeId": dispute_id, "deadline": dispute.deadline},
                f"voting is open for another {dispute.deadline - now + 1} s",
            )
    outcome, tx = disputes.finalise(dispute_id)
    resolved = tx.event("DisputeResolved")
    return Resolution(dispute_id, outcome, resolved["recipient"], int(resolved["bond"]), tx)


def report(disputes: chainlib.OwnershipDisputesClient, dispute_id: int) -> DisputeReport:
    """The dispute's state, its votes with report CIDs, and the M-of-N parameters."""
    return DisputeReport(
        dispute=disputes.dispute(dispute_id),
        votes=disputes.votes(dispute_id),
        quorum=disputes.quorum(),
        arbiter_count=disputes.arbiter_count(),
    )


def run_dispute(
    claimant: chainlib.OwnershipDisputesClient,
    claimant_record: int,
    suspect: int | bytes,
    evidence_cid: str,
    key_cid: str,
    rulings: Sequence[tuple[chainlib.OwnershipDisputesClient, bool, str]],
    *,
    skip_wait_on_dev_chain: bool = True,
) -> tuple[Resolution, DisputeReport]:
    """The whole flow in one call: open, reveal, one vote per ``(arbiter client, uphold, report CID)``, finalise."""
    dispute, _ = open_dispute(claimant, claimant_record, suspect, evidence_cid)
    reveal_key(claimant, dispute.dispute_id, key_cid)
    for arbiter, uphold, report_cid in rulings:
        vote(arbiter, dispute.dispute_id, uphold, report_cid)
    resolution = finalise(claimant, dispute.dispute_id, skip_wait_on_dev_chain=skip_wait_on_dev_chain)
    return resolution, report(claimant, dispute.dispute_id)
