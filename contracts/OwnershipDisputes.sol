// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IModelRegistry} from "./IModelRegistry.sol";
import {IOwnershipDisputes} from "./IOwnershipDisputes.sol";

/**
 * @title OwnershipDisputes
 * @dev Bonded ownership disputes settled by M-of-N arbiters (DESIGN.md §5). See {IOwnershipDisputes} for the
 * flow. Roles are a minimal AccessControl: {ADMIN_ROLE} grants and revokes every role, {ARBITER_ROLE} votes;
 * the two never meet in one account, and the treasury never votes.
 *
 * Loop-free: each function touches a constant number of slots whatever the number of disputes, votes or
 * arbiters. Bonds follow checks-effects-interactions: the dispute is marked resolved before any ether moves,
 * and a failed payment is credited for {withdraw} rather than blocking the resolution.
 */
contract OwnershipDisputes is IOwnershipDisputes {
    mapping(uint256 disputeId => Dispute) private _disputes;
    mapping(uint256 disputeId => mapping(address arbiter => bool)) private _voted;
    mapping(bytes32 role => mapping(address account => bool)) private _roles;
    mapping(address account => uint256) private _credited;
    uint256 private _disputeCount;
    uint256 private _arbiterCount;

    IModelRegistry private immutable _registry;
    uint256 private immutable _bond;
    uint32 private immutable _quorum;
    uint64 private immutable _votingPeriod;
    address private immutable _treasury;

    bytes32 public constant ADMIN_ROLE = keccak256("ledgermark.disputes.ADMIN_ROLE");
    bytes32 public constant ARBITER_ROLE = keccak256("ledgermark.disputes.ARBITER_ROLE");
    uint64 public constant MAX_VOTING_PERIOD = 365 days;

    modifier onlyRole(bytes32 role) {
        _checkRole(role, msg.sender);
        _;
    }

    /**
     * @dev `admin` receives {ADMIN_ROLE}; `treasury_` receives bonds forfeited against unregistered models. They
     * differ, so the account that appoints arbiters never profits from their rejections.
     *
     * Requirements:
     * - `registry_`, `admin` and `treasury_` are non-zero, `treasury_ != admin`; `quorum_` is positive;
     * - `0 < votingPeriod_ <= MAX_VOTING_PERIOD`, so that `block.timestamp + votingPeriod` never overflows.
     */
    constructor(
        address registry_,
        uint256 bond_,
        uint32 quorum_,
        uint64 votingPeriod_,
        address admin,
        address treasury_
    ) {
        if (
            registry_ == address(0) ||
            admin == address(0) ||
            treasury_ == address(0) ||
            treasury_ == admin ||
            quorum_ == 0 ||
            votingPeriod_ == 0 ||
            votingPeriod_ > MAX_VOTING_PERIOD
        ) {
            revert OwnershipDisputesInvalidConfiguration();
        }
        _registry = IModelRegistry(registry_);
        _bond = bond_;
        _quorum = quorum_;
        _votingPeriod = votingPeriod_;
        _treasury = treasury_;
        _grantRole(ADMIN_ROLE, admin);
    }

    /// @inheritdoc IOwnershipDisputes
    function openDispute(
        uint256 claimantRecord,
        bytes32 suspectRoot,
        bytes32 evidenceHash,
        string calldata evidenceCid
    ) external payable returns (uint256 disputeId) {
        if (msg.value != _bond) revert OwnershipDisputesWrongBond(_bond, msg.value);
        if (bytes(evidenceCid).length == 0) revert OwnershipDisputesEmptyCid();
        if (evidenceHash == bytes32(0)) revert OwnershipDisputesEmptyEvidenceHash();
        IModelRegistry.Record memory claimant = _registry.record(claimantRecord);
        if (claimant.owner != msg.sender || claimant.revoked) {
            revert OwnershipDisputesNotRecordOwner(msg.sender, claimantRecord);
        }
        if (!claimant.keyed) revert OwnershipDisputesNoWatermarkKey(claimantRecord);
        uint256 suspectRecord = _registry.recordIdByRoot(suspectRoot); // 0 for the zero root: never registered
        if (suspectRoot == bytes32(0) || suspectRecord == claimantRecord) {
            revert OwnershipDisputesInvalidSuspect(suspectRoot);
        }
        disputeId = _open(claimantRecord, claimant.commitBlock, suspectRoot, suspectRecord);
        _commitEvidence(disputeId, evidenceHash, evidenceCid);
    }

    /// @inheritdoc IOwnershipDisputes
    function revealKey(uint256 disputeId, string calldata keyCid, bytes32 dataKey, string calldata reportCid)
        external
    {
        Dispute storage d = _openDispute(disputeId);
        if (d.claimant != msg.sender) revert OwnershipDisputesNotClaimant(msg.sender, disputeId);
        if (d.keyRevealed) revert OwnershipDisputesKeyAlreadyRevealed(disputeId);
        if (bytes(keyCid).length == 0 || bytes(reportCid).length == 0) revert OwnershipDisputesEmptyCid();
        if (dataKey == bytes32(0)) revert OwnershipDisputesEmptyDataKey(disputeId);
        bytes32 actual = keccak256(bytes(keyCid));
        uint256 holder = _registry.recordOfKeyHash(actual);
        if (holder != d.claimantRecord) revert OwnershipDisputesKeyHashMismatch(disputeId, actual, holder);
        _revealKey(d, disputeId, keyCid, dataKey, reportCid);
    }

    /// @inheritdoc IOwnershipDisputes
    function vote(uint256 disputeId, bool uphold, string calldata reportCid) external onlyRole(ARBITER_ROLE) {
        Dispute storage d = _openDispute(disputeId);
        if (_voted[disputeId][msg.sender]) revert OwnershipDisputesAlreadyVoted(disputeId, msg.sender);
        if (bytes(reportCid).length == 0) revert OwnershipDisputesEmptyCid();
        if (uphold && !d.keyRevealed) revert OwnershipDisputesKeyNotRevealed(disputeId);
        if (msg.sender == d.claimant || msg.sender == d.suspectOwner) {
            revert OwnershipDisputesConflictOfInterest(disputeId, msg.sender);
        }
        _vote(d, disputeId, msg.sender, uphold, reportCid);
    }

    /// @inheritdoc IOwnershipDisputes
    function finalise(uint256 disputeId) external returns (Status outcome) {
        Dispute storage d = _existingDispute(disputeId);
        if (d.status != Status.Open) revert OwnershipDisputesAlreadyResolved(disputeId);
        if (block.timestamp <= d.deadline) revert OwnershipDisputesVotingOpen(disputeId, d.deadline);
        outcome = _resolve(d, disputeId);
    }

    /// @inheritdoc IOwnershipDisputes
    function withdraw() external {
        uint256 amount = _credited[msg.sender];
        if (amount == 0) revert OwnershipDisputesNothingToWithdraw(msg.sender);
        _credited[msg.sender] = 0;
        emit Withdrawn(msg.sender, amount);
        (bool ok, ) = payable(msg.sender).call{value: amount}("");
        if (!ok) revert OwnershipDisputesPaymentFailed(msg.sender, amount);
    }

    /// @inheritdoc IOwnershipDisputes
    function grantRole(bytes32 role, address account) external onlyRole(ADMIN_ROLE) {
        _grantRole(role, account);
    }

    /// @inheritdoc IOwnershipDisputes
    function revokeRole(bytes32 role, address account) external onlyRole(ADMIN_ROLE) {
        _revokeRole(role, account);
    }

    /// @inheritdoc IOwnershipDisputes
    function renounceRole(bytes32 role) external {
        _revokeRole(role, msg.sender);
    }

    /// @inheritdoc IOwnershipDisputes
    function hasRole(bytes32 role, address account) external view returns (bool) {
        return _roles[role][account];
    }

    /// @inheritdoc IOwnershipDisputes
    function arbiterCount() external view returns (uint256) {
        return _arbiterCount;
    }

    /// @inheritdoc IOwnershipDisputes
    function dispute(uint256 disputeId) external view returns (Dispute memory) {
        return _existingDispute(disputeId);
    }

    /// @inheritdoc IOwnershipDisputes
    function hasVoted(uint256 disputeId, address arbiter) external view returns (bool) {
        return _voted[disputeId][arbiter];
    }

    /// @inheritdoc IOwnershipDisputes
    function disputeCount() external view returns (uint256) {
        return _disputeCount;
    }

    /// @inheritdoc IOwnershipDisputes
    function credited(address account) external view returns (uint256) {
        return _credited[account];
    }

    /// @inheritdoc IOwnershipDisputes
    function registry() external view returns (address) {
        return address(_registry);
    }

    /// @inheritdoc IOwnershipDisputes
    function bond() external view returns (uint256) {
        return _bond;
    }

    /// @inheritdoc IOwnershipDisputes
    function quorum() external view returns (uint32) {
        return _quorum;
    }

    /// @inheritdoc IOwnershipDisputes
    function votingPeriod() external view returns (uint64) {
        return _votingPeriod;
    }

    /// @inheritdoc IOwnershipDisputes
    function treasury() external view returns (address) {
        return _treasury;
    }

    /**
     * @dev Creates the dispute and records the facts of this block: priority, and the suspect record's owner (a
     * party for good, so selling the record later does not make its seller an eligible judge). No caller checks.
     */
    function _open(uint256 claimantRecord, uint64 claimantCommitBlock, bytes32 suspectRoot, uint256 suspectRecord)
        internal
        returns (uint256 disputeId)
    {
        Priority priority = Priority.SuspectUnregistered;
        address suspectOwner;
        if (suspectRecord != 0) {
            IModelRegistry.Record memory suspect = _registry.record(suspectRecord);
            priority = _priority(claimantCommitBlock, suspect.commitBlock);
            suspectOwner = suspect.owner;
        }
        disputeId = ++_disputeCount;
        Dispute storage d = _disputes[disputeId];
        d.claimant = msg.sender;
        // cannot truncate: record ids come from the registry's counter, far below 2**64
        d.claimantRecord = uint64(claimantRecord);
        d.priority = priority;
        d.status = Status.Open;
        d.suspectOwner = suspectOwner;
        d.suspectRoot = suspectRoot;
        d.suspectRecord = uint64(suspectRecord);
        d.openedAt = uint64(block.timestamp);
        d.deadline = uint64(block.timestamp) + _votingPeriod;
        d.bond = msg.value;
    }

    /**
     * @dev Stores the evidence commitment and announces the dispute (split from {_open} to keep the stack short).
     */
    function _commitEvidence(uint256 disputeId, bytes32 evidenceHash, string calldata evidenceCid) internal {
        Dispute storage d = _disputes[disputeId];
        d.evidenceHash = evidenceHash;
        d.evidenceCid = evidenceCid;
        emit DisputeOpened(
            disputeId,
            d.claimantRecord,
            d.suspectRoot,
            d.claimant,
            d.suspectRecord,
            d.suspectOwner,
            d.priority,
            d.bond,
            d.deadline,
            evidenceHash,
            evidenceCid
        );
    }

    /**
     * @dev Stores the revealed key CID, data key and full report CID; no checks.
     */
    function _revealKey(
        Dispute storage d,
        uint256 disputeId,
        string calldata keyCid,
        bytes32 dataKey,
        string calldata reportCid
    ) internal {
        d.keyRevealed = true;
        d.dataKey = dataKey;
        d.keyCid = keyCid;
        d.reportCid = reportCid;
        emit KeyRevealed(disputeId, keyCid, dataKey, reportCid);
    }

    /**
     * @dev Counts one vote; no checks. The report CID is kept in the event only.
     */
    function _vote(Dispute storage d, uint256 disputeId, address arbiter, bool uphold, string calldata reportCid)
        internal
    {
        _voted[disputeId][arbiter] = true;
        // cannot overflow: each arbiter votes once per dispute, and there are far fewer than 2**32 arbiters
        unchecked {
            if (uphold) ++d.upholdVotes;
            else ++d.rejectVotes;
        }
        emit VoteCast(disputeId, arbiter, uphold, reportCid);
    }

    /**
     * @dev Settles the dispute, then moves the bond (effects before interactions).
     */
    function _resolve(Dispute storage d, uint256 disputeId) internal returns (Status outcome) {
        outcome = _outcome(d.upholdVotes, d.rejectVotes);
        d.status = outcome;
        address recipient = d.claimant;
        if (outcome == Status.Rejected) {
            recipient = d.suspectOwner == address(0) ? _treasury : d.suspectOwner;
        }
        uint256 amount = d.bond;
        emit DisputeResolved(disputeId, outcome, recipient, amount);
        _pay(disputeId, recipient, amount);
    }

    /**
     * @dev Sends `amount` to `to`, crediting it for {withdraw} if the transfer fails.
     */
    function _pay(uint256 disputeId, address to, uint256 amount) internal {
        if (amount == 0) return;
        (bool ok, ) = payable(to).call{value: amount}("");
        if (ok) {
            emit BondPaid(disputeId, to, amount);
        } else {
            _credited[to] += amount;
            emit BondCredited(disputeId, to, amount);
        }
    }

    /**
     * @dev Grants `role` to `account` (no-op if held) and keeps the arbiter count; no access check.
     */
    function _grantRole(bytes32 role, address account) internal {
        if (_roles[role][account]) return;
        _checkNoRoleConflict(role, account);
        _roles[role][account] = true;
        if (role == ARBITER_ROLE) {
            // cannot overflow: one increment per distinct arbiter
            unchecked {
                ++_arbiterCount;
            }
        }
        emit RoleGranted(role, account, msg.sender);
    }

    /**
     * @dev Revokes `role` from `account` (no-op if not held) and keeps the arbiter count; no access check.
     */
    function _revokeRole(bytes32 role, address account) internal {
        if (!_roles[role][account]) return;
        _roles[role][account] = false;
        if (role == ARBITER_ROLE) {
            // cannot underflow: the account held the role, so it was counted
            unchecked {
                --_arbiterCount;
            }
        }
        emit RoleRevoked(role, account, msg.sender);
    }

    /**
     * @dev Reverts with {OwnershipDisputesUnauthorizedAccount} unless `account` holds `role`.
     */
    function _checkRole(bytes32 role, address account) internal view {
        if (!_roles[role][account]) revert OwnershipDisputesUnauthorizedAccount(account, role);
    }

    /**
     * @dev Returns an existing dispute that is still open and before its deadline.
     */
    function _openDispute(uint256 disputeId) internal view returns (Dispute storage d) {
        d = _existingDispute(disputeId);
        if (d.status != Status.Open) revert OwnershipDisputesAlreadyResolved(disputeId);
        if (block.timestamp > d.deadline) revert OwnershipDisputesVotingClosed(disputeId, d.deadline);
    }

    /**
     * @dev Returns the stored dispute, reverting for an unknown id.
     */
    function _existingDispute(uint256 disputeId) internal view returns (Dispute storage d) {
        d = _disputes[disputeId];
        if (d.status == Status.None) revert OwnershipDisputesUnknownDispute(disputeId);
    }

    /**
     * @dev Reverts unless `account` may take `role`: whoever appoints arbiters, or profits from rejections,
     * never judges; a judge never becomes the appointer, nor the treasury an admin.
     */
    function _checkNoRoleConflict(bytes32 role, address account) internal view {
        bool conflict = role == ARBITER_ROLE
            ? (_roles[ADMIN_ROLE][account] || account == _treasury)
            : (role == ADMIN_ROLE && (_roles[ARBITER_ROLE][account] || account == _treasury));
        if (conflict) revert OwnershipDisputesRoleConflict(account, role);
    }

    /**
     * @dev Both sides count: at least `quorum` votes and a strict majority decide, anything else is undecided.
     */
    function _outcome(uint32 upholds, uint32 rejects) internal view returns (Status) {
        // cannot overflow: both counts are below the number of arbiters, far below 2**31
        if (uint256(upholds) + rejects < _quorum || upholds == rejects) return Status.Undecided;
        return upholds > rejects ? Status.Upheld : Status.Rejected;
    }

    /**
     * @dev Whose registration commitment is older, by commit block.
     */
    function _priority(uint64 claimantBlock, uint64 suspectBlock) internal pure returns (Priority) {
        if (claimantBlock < suspectBlock) return Priority.ClaimantFirst;
        if (claimantBlock > suspectBlock) return Priority.SuspectFirst;
        return Priority.SameBlock;
    }
}
