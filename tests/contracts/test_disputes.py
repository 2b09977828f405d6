"""OwnershipDisputes on the in-process EVM: the flow end to end through registry.dispute, and every revert."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable

import pytest

from registry import chain as chainlib
from registry import dispute as flow
from registry.chain import deployments
from registry.errors import LedgermarkError
from tests.contracts.conftest import BOND, DATA_KEY, KEY_CID, QUORUM, VOTING_PERIOD, expect_revert

EVIDENCE = hashlib.sha256(b"the full evidence report").digest()
REPORT = "bafkreifullreport"

Clients = tuple[chainlib.OwnershipDisputesClient, list[chainlib.OwnershipDisputesClient]]


@pytest.fixture
def parties(disputes: chainlib.OwnershipDisputesClient, accounts: list[chainlib.Chain]) -> Clients:
    """Admin-deployed contract with three arbiters (accounts 4, 5, 6)."""
    arbiters = [disputes.using(a) for a in accounts[4:7]]
    for arbiter in arbiters:
        disputes.grant_arbiter(arbiter.chain.address)
    return disputes, arbiters


def _balance(chain: chainlib.Chain, address: str) -> int:
    return chain.w3.eth.get_balance(address)


def test_upheld_dispute_returns_bond_to_claimant(
    parties: Clients,
    registry: chainlib.ModelRegistryClient,
    publish: Callable[..., int],
    accounts: list[chainlib.Chain],
) -> None:
    disputes, arbiters = parties
    claimant_record = publish()
    thief = registry.using(accounts[2])
    suspect_record = publish(thief, key_cid=None)
    before = _balance(disputes.chain, disputes.chain.address)
    resolution, report = flow.run_dispute(
        disputes,
        claimant_record,
        suspect_record,
        "bafyevidence",
        KEY_CID,
        [
            (arbiters[0], True, "bafyreport0"),
            (arbiters[1], True, "bafyreport1"),
            (arbiters[2], False, "bafyreport2"),
        ],
        data_key=DATA_KEY,
        evidence_hash=EVIDENCE,
        report_cid=REPORT,
    )
    assert resolution.outcome is chainlib.DisputeStatus.UPHELD
    assert resolution.recipient == disputes.chain.address and resolution.bond_wei == BOND
    assert report.dispute.priority is chainlib.Priority.CLAIMANT_FIRST
    assert report.dispute.suspect_record == suspect_record and report.dispute.key_cid == KEY_CID
    assert report.dispute.key_revealed and report.dispute.data_key == DATA_KEY
    assert (report.dispute.uphold_votes, report.dispute.reject_votes) == (2, 1)
    assert [v.report_cid for v in report.votes] == ["bafyreport0", "bafyreport1", "bafyreport2"]
    assert report.quorum == QUORUM and report.arbiter_count == 3 and report.resolved
    spent = before - _balance(disputes.chain, disputes.chain.address)
    assert 0 < spent < BOND // 10  # only gas: the bond came back
    names = [e["event"] for e in resolution.tx.events]
    assert names == ["DisputeResolved", "BondPaid"]


def test_rejected_dispute_pays_suspect_owner(
    parties: Clients,
    registry: chainlib.ModelRegistryClient,
    publish: Callable[..., int],
    accounts: list[chainlib.Chain],
) -> None:
    disputes, arbiters = parties
    claimant_record = publish()
    suspect_owner = accounts[2]
    suspect_record = publish(registry.using(suspect_owner), key_cid=None)
    registry.using(suspect_owner).transfer(
        suspect_record, accounts[3].address
    )  # bond goes to the current owner
    before = _balance(disputes.chain, accounts[3].address)
    resolution, report = flow.run_dispute(
        disputes,
        claimant_record,
        suspect_record,
        "bafyevidence",
        KEY_CID,
        [(arbiters[0], False, "r0"), (arbiters[1], False, "r1"), (arbiters[2], True, "r2")],
        data_key=DATA_KEY,
        evidence_hash=EVIDENCE,
        report_cid=REPORT,
    )
    assert (report.dispute.uphold_votes, report.dispute.reject_votes) == (1, 2)
    assert report.dispute.suspect_owner == accounts[3].address  # the owner at opening
    assert resolution.outcome is chainlib.DisputeStatus.REJECTED
    assert resolution.recipient == accounts[3].address
    assert _balance(disputes.chain, accounts[3].address) - before == BOND


def test_unregistered_suspect_and_priority(
    parties: Clients,
    registry: chainlib.ModelRegistryClient,
    publish: Callable[..., int],
    accounts: list[chainlib.Chain],
) -> None:
    disputes, _ = parties
    early = publish(registry.using(accounts[2]), key_cid=None)
    claimant_record = publish()
    unregistered = os.urandom(32)
    first, _ = flow.open_dispute(disputes, claimant_record, unregistered, EVIDENCE, "bafyevidence")
    assert first.priority is chainlib.Priority.SUSPECT_UNREGISTERED and first.suspect_record == 0
    second, tx = flow.open_dispute(disputes, claimant_record, early, EVIDENCE, "bafyevidence")
    assert second.priority is chainlib.Priority.SUSPECT_FIRST
    assert tx.event("DisputeOpened")["suspectRoot"] == registry.record(early).root
    # nobody votes: too few votes, so after the deadline the dispute is undecided and the claimant is refunded
    resolution = flow.finalise(disputes, first.dispute_id, skip_wait_on_dev_chain=True)
    assert resolution.outcome is chainlib.DisputeStatus.UNDECIDED
    assert resolution.recipient == disputes.chain.address


def test_open_dispute_reverts(
    parties: Clients,
    registry: chainlib.ModelRegistryClient,
    publish: Callable[..., int],
    accounts: list[chainlib.Chain],
) -> None:
    disputes, _ = parties
    claimant_record = publish()
    keyless = publish(key_cid=None)
    suspect = os.urandom(32)
    expect_revert(
        "OwnershipDisputesWrongBond",
        lambda: disputes.open_dispute(claimant_record, suspect, EVIDENCE, "e", bond_wei=BOND - 1),
    )
    expect_revert(
        "OwnershipDisputesEmptyCid", lambda: disputes.open_dispute(claimant_record, suspect, EVIDENCE, "")
    )
    expect_revert(
        "OwnershipDisputesEmptyEvidenceHash",
        lambda: disputes.open_dispute(claimant_record, suspect, bytes(32), "e"),
    )
    expect_revert(
        "OwnershipDisputesNotRecordOwner",
        lambda: disputes.using(accounts[2]).open_dispute(claimant_record, suspect, EVIDENCE, "e"),
        chainlib.UnauthorizedError,
    )
    expect_revert(
        "OwnershipDisputesNoWatermarkKey", lambda: disputes.open_dispute(keyless, suspect, EVIDENCE, "e")
    )
    expect_revert(
        "OwnershipDisputesInvalidSuspect",
        lambda: disputes.open_dispute(claimant_record, claimant_record, EVIDENCE, "e"),
    )
    expect_revert(
        "OwnershipDisputesInvalidSuspect",
        lambda: disputes.open_dispute(claimant_record, bytes(32), EVIDENCE, "e"),
    )
    expect_revert(
        "ModelRegistryUnknownRecord",
        lambda: disputes.open_dispute(77, suspect, EVIDENCE, "e"),
        chainlib.UnknownRecordError,
    )
    registry.revoke(claimant_record)
    expect_revert(
        "OwnershipDisputesNotRecordOwner",
        lambda: disputes.open_dispute(claimant_record, suspect, EVIDENCE, "e"),
        chainlib.UnauthorizedError,
    )


def test_key_reveal_checks_hash(
    parties: Clients, publish: Callable[..., int], accounts: list[chainlib.Chain]
) -> None:
    disputes, arbiters = parties
    dispute, _ = flow.open_dispute(disputes, publish(), os.urandom(32), EVIDENCE, "bafyevidence")
    wrong = "bafkreiwrongkey"
    err = expect_revert(
        "OwnershipDisputesKeyHashMismatch",
        lambda: disputes.reveal_key(dispute.dispute_id, wrong, DATA_KEY, REPORT),
    )
    assert err.error_args["actual"] == chainlib.watermark_key_hash(wrong)
    assert err.error_args["holder"] == 0  # no record anchors the wrong key's hash
    with pytest.raises(chainlib.ContractRevertError, match="OwnershipDisputesKeyHashMismatch"):
        flow.reveal_key(
            disputes, dispute.dispute_id, wrong, DATA_KEY, REPORT
        )  # caught locally, no transaction
    expect_revert(
        "OwnershipDisputesNotClaimant",
        lambda: disputes.using(accounts[2]).reveal_key(dispute.dispute_id, KEY_CID, DATA_KEY, REPORT),
        chainlib.UnauthorizedError,
    )
    expect_revert(
        "OwnershipDisputesKeyNotRevealed",
        lambda: arbiters[0].vote(dispute.dispute_id, True, "r"),
        chainlib.DisputeStateError,
    )
    expect_revert(
        "OwnershipDisputesEmptyDataKey",
        lambda: disputes.reveal_key(dispute.dispute_id, KEY_CID, bytes(32), REPORT),
    )
    expect_revert(
        "OwnershipDisputesEmptyCid", lambda: disputes.reveal_key(dispute.dispute_id, "", DATA_KEY, REPORT)
    )
    expect_revert(
        "OwnershipDisputesEmptyCid", lambda: disputes.reveal_key(dispute.dispute_id, KEY_CID, DATA_KEY, "")
    )
    with pytest.raises(LedgermarkError, match=f"dispute {dispute.dispute_id}: the data key is all zeros"):
        flow.reveal_key(
            disputes, dispute.dispute_id, KEY_CID, bytes(32), REPORT
        )  # caught locally, no transaction
    assert not disputes.dispute(dispute.dispute_id).key_revealed
    assert disputes.dispute(dispute.dispute_id).data_key == bytes(32)
    tx = flow.reveal_key(disputes, dispute.dispute_id, KEY_CID, DATA_KEY, REPORT)
    assert tx.event("KeyRevealed") == {
        "disputeId": dispute.dispute_id,
        "keyCid": KEY_CID,
        "dataKey": DATA_KEY,
        "reportCid": REPORT,
    }
    stored = disputes.dispute(dispute.dispute_id)
    assert stored.key_revealed and stored.key_cid == KEY_CID and stored.data_key == DATA_KEY
    assert stored.report_cid == REPORT and stored.evidence_hash == EVIDENCE
    expect_revert(
        "OwnershipDisputesKeyAlreadyRevealed",
        lambda: disputes.reveal_key(dispute.dispute_id, KEY_CID, DATA_KEY, REPORT),
        chainlib.DisputeStateError,
    )


def test_vote_reverts(
    parties: Clients,
    registry: chainlib.ModelRegistryClient,
    publish: Callable[..., int],
    accounts: list[chainlib.Chain],
) -> None:
    disputes, arbiters = parties
    suspect_owner = accounts[6]  # also arbiters[2]: a party may not judge its own case
    suspect_record = publish(registry.using(suspect_owner), key_cid=None)
    dispute, _ = flow.open_dispute(disputes, publish(), suspect_record, EVIDENCE, "bafyevidence")
    did = dispute.dispute_id
    flow.reveal_key(disputes, did, KEY_CID, DATA_KEY, REPORT)
    expect_revert(
        "OwnershipDisputesUnauthorizedAccount",
        lambda: disputes.using(accounts[3]).vote(did, True, "r"),
        chainlib.UnauthorizedError,
    )
    expect_revert(
        "OwnershipDisputesConflictOfInterest",
        lambda: arbiters[2].vote(did, True, "r"),
        chainlib.UnauthorizedError,
    )
    claimant_arbiter = accounts[3]  # the admin may not arbitrate: the claimant here is another account
    claimant_record = publish(registry.using(claimant_arbiter), key_cid="bafkreiclaimantarbiterkey")
    disputes.grant_arbiter(claimant_arbiter.address)
    as_claimant = disputes.using(claimant_arbiter)
    own, _ = flow.open_dispute(as_claimant, claimant_record, os.urandom(32), EVIDENCE, "e")
    expect_revert(
        "OwnershipDisputesConflictOfInterest",
        lambda: as_claimant.vote(own.dispute_id, False, "r"),
        chainlib.UnauthorizedError,
    )
    expect_revert("OwnershipDisputesEmptyCid", lambda: arbiters[0].vote(did, True, ""))
    arbiters[0].vote(did, True, "r0")
    expect_revert(
        "OwnershipDisputesAlreadyVoted",
        lambda: arbiters[0].vote(did, False, "r0b"),
        chainlib.DisputeStateError,
    )
    assert disputes.has_voted(did, arbiters[0].chain.address)
    expect_revert(
        "OwnershipDisputesUnknownDispute",
        lambda: arbiters[1].vote(99, True, "r"),
        chainlib.UnknownDisputeError,
    )
    disputes.chain.time_travel(VOTING_PERIOD + 1)
    expect_revert(
        "OwnershipDisputesVotingClosed", lambda: arbiters[1].vote(did, True, "r1"), chainlib.DisputeStateError
    )
    expect_revert(
        "OwnershipDisputesVotingClosed",
        lambda: disputes.reveal_key(did, KEY_CID, DATA_KEY, REPORT),
        chainlib.DisputeStateError,
    )


def test_finalise_reverts_and_resolves_once(
    parties: Clients, publish: Callable[..., int], accounts: list[chainlib.Chain]
) -> None:
    disputes, _ = parties
    dispute, _ = flow.open_dispute(disputes, publish(), os.urandom(32), EVIDENCE, "bafyevidence")
    did = dispute.dispute_id
    expect_revert("OwnershipDisputesVotingOpen", lambda: disputes.finalise(did), chainlib.DisputeStateError)
    with pytest.raises(chainlib.DisputeStateError):
        flow.finalise(disputes, did)  # caught locally
    disputes.chain.time_travel(VOTING_PERIOD // 2)
    expect_revert("OwnershipDisputesVotingOpen", lambda: disputes.finalise(did), chainlib.DisputeStateError)
    disputes.chain.time_travel(VOTING_PERIOD // 2 + 1)
    bystander = disputes.using(accounts[7])
    outcome, _ = bystander.finalise(did)  # anyone may finalise
    assert outcome is chainlib.DisputeStatus.UNDECIDED
    expect_revert(
        "OwnershipDisputesAlreadyResolved", lambda: bystander.finalise(did), chainlib.DisputeStateError
    )
    expect_revert(
        "OwnershipDisputesAlreadyResolved",
        lambda: disputes.reveal_key(did, KEY_CID, DATA_KEY, REPORT),
        chainlib.DisputeStateError,
    )
    expect_revert(
        "OwnershipDisputesUnknownDispute", lambda: disputes.finalise(42), chainlib.UnknownDisputeError
    )
    expect_revert("OwnershipDisputesNothingToWithdraw", lambda: disputes.withdraw())


def test_roles(parties: Clients, accounts: list[chainlib.Chain]) -> None:
    disputes, arbiters = parties
    outsider = disputes.using(accounts[3])
    err = expect_revert(
        "OwnershipDisputesUnauthorizedAccount",
        lambda: outsider.grant_arbiter(accounts[3].address),
        chainlib.UnauthorizedError,
    )
    assert err.error_args["neededRole"] == disputes.contract.functions.ADMIN_ROLE().call()
    assert disputes.arbiter_count() == 3 and disputes.is_arbiter(arbiters[0].chain.address)
    disputes.grant_arbiter(arbiters[0].chain.address)  # idempotent
    assert disputes.arbiter_count() == 3
    tx = disputes.revoke_arbiter(arbiters[0].chain.address)
    assert tx.event("RoleRevoked")["account"] == arbiters[0].chain.address
    assert disputes.arbiter_count() == 2 and not disputes.is_arbiter(arbiters[0].chain.address)
    role = disputes.arbiter_role()
    arbiters[1].chain.transact(arbiters[1].contract.functions.renounceRole(role))
    assert disputes.arbiter_count() == 1


def test_failed_payout_is_credited_for_withdraw(
    parties: Clients,
    registry: chainlib.ModelRegistryClient,
    chain: chainlib.Chain,
    publish: Callable[..., int],
) -> None:
    """A rejected dispute whose suspect owner cannot take ether (a contract) credits the bond instead."""
    disputes, arbiters = parties
    suspect = publish(key_cid=None)
    claimant = publish()
    registry.transfer(suspect, registry.address)  # ModelRegistry has no receive(): the payment fails
    dispute, _ = flow.open_dispute(disputes, claimant, suspect, EVIDENCE, "e")
    for arbiter in arbiters[:2]:
        arbiter.vote(dispute.dispute_id, False, "r")
    resolution = flow.finalise(disputes, dispute.dispute_id, skip_wait_on_dev_chain=True)
    assert [e["event"] for e in resolution.tx.events] == ["DisputeResolved", "BondCredited"]
    assert disputes.credited(registry.address) == BOND


def test_constructor_rejects_bad_configuration(
    chain: chainlib.Chain, registry: chainlib.ModelRegistryClient
) -> None:
    expect_revert(
        "OwnershipDisputesInvalidConfiguration",
        lambda: deployments.deploy_disputes(chain, registry.address, bond_wei=1, quorum=0, voting_period_s=1),
    )
    expect_revert(
        "OwnershipDisputesInvalidConfiguration",
        lambda: deployments.deploy_disputes(chain, registry.address, bond_wei=1, quorum=1, voting_period_s=0),
    )
    expect_revert(
        "OwnershipDisputesInvalidConfiguration",
        lambda: deployments.deploy_disputes(
            chain, registry.address, bond_wei=1, quorum=1, voting_period_s=1, treasury=chain.address
        ),
    )
