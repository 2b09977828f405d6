"""Issue 10, items 6 and 7: the governance attacks on OwnershipDisputes, each replayed on the in-process EVM.

Each test is named after the attack and asserts what the attacker gets: the outcome, where the bond goes, or the
custom error that stops the transaction.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable

import pytest

from registry import chain as chainlib
from registry import dispute as flow
from registry.chain import deployments
from tests.contracts.conftest import BOND, DATA_KEY, KEY_CID, VOTING_PERIOD, expect_revert

EVIDENCE = hashlib.sha256(b"the full evidence report").digest()
REPORT = "bafkreifullreport"

Parties = tuple[chainlib.OwnershipDisputesClient, list[chainlib.OwnershipDisputesClient]]


def _deploy(chain: chainlib.Chain, registry: chainlib.ModelRegistryClient, quorum: int) -> Parties:
    """A disputes contract with this quorum, administered by account 0, with arbiters at accounts 4, 5, 6."""
    address = deployments.deploy_disputes(
        chain, registry.address, bond_wei=BOND, quorum=quorum, voting_period_s=VOTING_PERIOD
    )
    admin = chainlib.OwnershipDisputesClient(chain, address)
    arbiters = [admin.using(chain.with_account(a)) for a in chain.dev_accounts()[4:7]]
    for arbiter in arbiters:
        admin.grant_arbiter(arbiter.chain.address)
    return admin, arbiters


@pytest.fixture
def quorum_one(chain: chainlib.Chain, registry: chainlib.ModelRegistryClient) -> Parties:
    return _deploy(chain, registry, 1)


@pytest.fixture
def quorum_two(chain: chainlib.Chain, registry: chainlib.ModelRegistryClient) -> Parties:
    return _deploy(chain, registry, 2)


def _balance(chain: chainlib.Chain, address: str) -> int:
    return chain.w3.eth.get_balance(address)


def _open(
    claimant: chainlib.OwnershipDisputesClient, record: int, suspect: int | bytes, *, reveal: bool = True
) -> int:
    dispute, _ = flow.open_dispute(claimant, record, suspect, EVIDENCE, "bafkreisummary")
    if reveal:
        flow.reveal_key(claimant, dispute.dispute_id, KEY_CID, DATA_KEY, REPORT)
    return dispute.dispute_id


def test_one_uphold_does_not_beat_two_rejects(
    quorum_one: Parties,
    registry: chainlib.ModelRegistryClient,
    publish: Callable[..., int],
    accounts: list[chainlib.Chain],
) -> None:
    disputes, arbiters = quorum_one
    suspect_owner = accounts[2].address
    suspect = publish(registry.using(accounts[2]), key_cid=None)
    did = _open(disputes, publish(), suspect)
    arbiters[0].vote(did, True, "bafyuphold")
    arbiters[1].vote(did, False, "bafyreject1")
    arbiters[2].vote(did, False, "bafyreject2")
    before = _balance(disputes.chain, suspect_owner)

    resolution = flow.finalise(disputes, did, skip_wait_on_dev_chain=True)

    assert resolution.outcome is chainlib.DisputeStatus.REJECTED
    assert resolution.recipient == suspect_owner
    assert _balance(disputes.chain, suspect_owner) - before == BOND


def test_too_few_votes_end_undecided_and_refund_the_claimant(
    quorum_two: Parties,
    registry: chainlib.ModelRegistryClient,
    publish: Callable[..., int],
    accounts: list[chainlib.Chain],
) -> None:
    disputes, arbiters = quorum_two
    claimant = disputes.using(accounts[3])
    record = publish(registry.using(accounts[3]))
    lone = _open(claimant, record, os.urandom(32))
    arbiters[0].vote(lone, True, "bafyuphold")  # one vote of the two the quorum needs
    tie = _open(claimant, record, os.urandom(32))
    arbiters[0].vote(tie, True, "bafyuphold")
    arbiters[1].vote(tie, False, "bafyreject")
    bystander = disputes.using(accounts[7])
    before = _balance(disputes.chain, accounts[3].address)

    for did in (lone, tie):
        resolution = flow.finalise(bystander, did, skip_wait_on_dev_chain=True)
        assert resolution.outcome is chainlib.DisputeStatus.UNDECIDED
        assert resolution.recipient == accounts[3].address and resolution.bond_wei == BOND

    assert _balance(disputes.chain, accounts[3].address) - before == 2 * BOND  # the bystander paid the gas
    assert flow.report(disputes, tie).resolved


def test_transferring_the_suspect_away_does_not_lift_the_conflict_of_interest(
    quorum_one: Parties,
    registry: chainlib.ModelRegistryClient,
    publish: Callable[..., int],
    accounts: list[chainlib.Chain],
) -> None:
    disputes, _ = quorum_one
    accused = accounts[3]
    suspect = publish(registry.using(accused), key_cid=None)
    did = _open(disputes, publish(), suspect)
    registry.using(accused).transfer(suspect, accounts[7].address)  # sold after the dispute opened
    disputes.grant_arbiter(accused.address)

    err = expect_revert(
        "OwnershipDisputesConflictOfInterest",
        lambda: disputes.using(accused).vote(did, False, "bafyreject"),
        chainlib.UnauthorizedError,
    )

    assert err.error_args == {"disputeId": did, "arbiter": accused.address}
    assert disputes.dispute(did).suspect_owner == accused.address
    assert not disputes.has_voted(did, accused.address)


def test_the_admin_cannot_appoint_itself_arbiter(quorum_one: Parties, accounts: list[chainlib.Chain]) -> None:
    disputes, arbiters = quorum_one
    admin = disputes.chain.address
    err = expect_revert(
        "OwnershipDisputesRoleConflict", lambda: disputes.grant_arbiter(admin), chainlib.UnauthorizedError
    )
    assert err.error_args == {"account": admin, "role": disputes.arbiter_role()}
    expect_revert(  # nor can an arbiter be made admin, then appoint itself
        "OwnershipDisputesRoleConflict",
        lambda: disputes.grant_admin(arbiters[0].chain.address),
        chainlib.UnauthorizedError,
    )
    expect_revert(  # nor may the treasury judge the disputes whose bonds it would receive
        "OwnershipDisputesRoleConflict",
        lambda: disputes.grant_arbiter(disputes.treasury()),
        chainlib.UnauthorizedError,
    )
    expect_revert(  # nor become an admin that appoints the judges
        "OwnershipDisputesRoleConflict",
        lambda: disputes.grant_admin(disputes.treasury()),
        chainlib.UnauthorizedError,
    )
    assert not disputes.is_arbiter(admin) and disputes.arbiter_count() == 3


def test_bonds_go_to_the_treasury_not_the_admin(
    quorum_two: Parties,
    registry: chainlib.ModelRegistryClient,
    publish: Callable[..., int],
    accounts: list[chainlib.Chain],
) -> None:
    disputes, arbiters = quorum_two
    treasury, admin = disputes.treasury(), disputes.chain.address
    assert treasury not in (admin, *(a.chain.address for a in arbiters))
    claimant = disputes.using(accounts[3])
    did = _open(claimant, publish(registry.using(accounts[3])), os.urandom(32))  # an unregistered suspect
    for arbiter in arbiters[:2]:
        arbiter.vote(did, False, "bafyreject")
    balances = {who: _balance(disputes.chain, who) for who in (treasury, admin)}

    resolution = flow.finalise(claimant, did, skip_wait_on_dev_chain=True)

    assert resolution.outcome is chainlib.DisputeStatus.REJECTED and resolution.recipient == treasury
    assert _balance(disputes.chain, treasury) - balances[treasury] == BOND
    assert _balance(disputes.chain, admin) == balances[admin]
    expect_revert(
        "OwnershipDisputesInvalidConfiguration",
        lambda: deployments.deploy_disputes(
            disputes.chain, registry.address, bond_wei=BOND, quorum=1, voting_period_s=60, treasury=admin
        ),
    )


def test_a_second_record_reusing_a_revealed_key_cannot_open_a_dispute(
    quorum_one: Parties,
    registry: chainlib.ModelRegistryClient,
    publish: Callable[..., int],
    accounts: list[chainlib.Chain],
) -> None:
    disputes, _ = quorum_one
    owner_record = publish()
    _open(disputes, owner_record, os.urandom(32))  # the owner's reveal makes KEY_CID public
    thief = accounts[2]

    expect_revert(  # the revealed key cannot be anchored a second time
        "ModelRegistryWatermarkKeyTaken", lambda: publish(registry.using(thief))
    )
    assert registry.record_of_key_hash(chainlib.watermark_key_hash(KEY_CID)) == owner_record
    expect_revert(  # nor claimed through the owner's record
        "OwnershipDisputesNotRecordOwner",
        lambda: disputes.using(thief).open_dispute(owner_record, os.urandom(32), EVIDENCE, "bafkreisummary"),
        chainlib.UnauthorizedError,
    )
    thief_record = publish(registry.using(thief), key_cid="bafkreithiefsownkey")
    stolen, _ = flow.open_dispute(disputes.using(thief), thief_record, os.urandom(32), EVIDENCE, "s")
    expect_revert(  # nor revealed for a record of its own: the arbiter tooling never sees an uphold-able key
        "OwnershipDisputesKeyHashMismatch",
        lambda: disputes.using(thief).reveal_key(stolen.dispute_id, KEY_CID, DATA_KEY, REPORT),
    )
