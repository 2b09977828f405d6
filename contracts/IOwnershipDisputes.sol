// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/**
 * @title IOwnershipDisputes
 * @dev Ownership disputes over watermarked models recorded in a {IModelRegistry}.
 *
 * Flow: the owner of a registered record (the claimant) opens a dispute against a suspect model, named by its
 * Merkle root (registered or not), with a bond and a commitment to the evidence: the SHA-256 of the full report
 * and the CID of a public summary that holds no secret. The claimant record must be the record that owns its
 * watermark-key hash in the registry (the first to anchor it), so a record reusing a revealed key cannot claim.
 * The contract records mechanically whose commitment came first and who owned the suspect record at opening.
 * The claimant then reveals the watermark key's CID, the data key of its sealed copy and the CID of the full
 * report; the contract checks `keccak256(bytes(keyCid))` against the claimant record's `watermarkKeyHash`, and
 * arbiters check the report against the committed SHA-256 before using it. The plaintext key is never published:
 * the record's manifest anchors the key sealed with AES-256-GCM, and the revealed data key lets anyone open that
 * anchored ciphertext and check that its plaintext hashes to the record.
 * Arbiters (role granted by an admin, who may not be an arbiter) vote on the watermark evidence, each with a
 * report CID, until the deadline; then anyone finalises. Both sides count: with at least `quorum` votes cast, a
 * strict majority upholds or rejects; with fewer votes, or a tie, the dispute ends undecided. The bond goes back
 * to the claimant when upheld or undecided, and to the suspect record's owner at opening when rejected (to the
 * treasury, a constructor parameter distinct from the admin, when the suspect is unregistered).
 */
interface IOwnershipDisputes {
    /// @dev Whose registration commitment came first, as far as the chain knows.
    enum Priority {
        SuspectUnregistered,
        ClaimantFirst,
        SuspectFirst,
        SameBlock
    }

    /// @dev Where a dispute stands.
    enum Status {
        None,
        Open,
        Upheld,
        Rejected,
        Undecided
    }

    /// @dev One dispute. Per-vote report CIDs live in {VoteCast} events, not in storage.
    /// `suspectOwner` is the suspect record's owner at opening (zero when unregistered): a party for good.
    /// `evidenceHash` is the SHA-256 of the full report, `evidenceCid` the public summary pinned at opening,
    /// `reportCid` the full report pinned at the reveal.
    struct Dispute {
        address claimant;
        uint64 claimantRecord;
        Priority priority;
        Status status;
        bool keyRevealed;
        address suspectOwner;
        uint64 suspectRecord;
        bytes32 suspectRoot;
        bytes32 dataKey;
        bytes32 evidenceHash;
        uint64 openedAt;
        uint64 deadline;
        uint32 upholdVotes;
        uint32 rejectVotes;
        uint256 bond;
        string evidenceCid;
        string keyCid;
        string reportCid;
    }

    /// @dev A constructor parameter is unusable (zero registry, admin, treasury, quorum or voting period, a voting
    /// period above {MAX_VOTING_PERIOD}, or a treasury that is the admin).
    error OwnershipDisputesInvalidConfiguration();

    /// @dev `account` lacks role `neededRole`.
    error OwnershipDisputesUnauthorizedAccount(address account, bytes32 neededRole);

    /// @dev The value sent is not the bond.
    error OwnershipDisputesWrongBond(uint256 expected, uint256 sent);

    /// @dev `account` does not own the claimant record `recordId`, or the record is revoked.
    error OwnershipDisputesNotRecordOwner(address account, uint256 recordId);

    /// @dev The claimant record has no watermark-key hash, so no key can ever be revealed for it.
    error OwnershipDisputesNoWatermarkKey(uint256 recordId);

    /// @dev The evidence hash is zero: a dispute commits to its full report by SHA-256.
    error OwnershipDisputesEmptyEvidenceHash();

    /// @dev `account` may not hold `role`: the admin and the treasury are never arbiters, and neither an arbiter
    /// nor the treasury is ever admin.
    error OwnershipDisputesRoleConflict(address account, bytes32 role);

    /// @dev The suspect root is zero, or the suspect is the claimant record itself.
    error OwnershipDisputesInvalidSuspect(bytes32 suspectRoot);

    /// @dev The evidence CID (or a report CID, or the key CID) is empty.
    error OwnershipDisputesEmptyCid();

    /// @dev No dispute has this id.
    error OwnershipDisputesUnknownDispute(uint256 disputeId);

    /// @dev Only the claimant can do this.
    error OwnershipDisputesNotClaimant(address account, uint256 disputeId);

    /// @dev The key was already revealed.
    error OwnershipDisputesKeyAlreadyRevealed(uint256 disputeId);

    /// @dev The data key is zero: a reveal must carry the key that opens the anchored sealed copy.
    error OwnershipDisputesEmptyDataKey(uint256 disputeId);

    /// @dev `keccak256(bytes(keyCid))` is `actual`, which record `holder` anchors (0: none), not the claimant
    /// record.
    error OwnershipDisputesKeyHashMismatch(uint256 disputeId, bytes32 actual, uint256 holder);

    /// @dev An uphold vote needs the key revealed first: the evidence cannot be checked without it.
    error OwnershipDisputesKeyNotRevealed(uint256 disputeId);

    /// @dev The arbiter already voted on this dispute.
    error OwnershipDisputesAlreadyVoted(uint256 disputeId, address arbiter);

    /// @dev The arbiter is a party to the dispute (claimant, or the suspect record's owner at opening).
    error OwnershipDisputesConflictOfInterest(uint256 disputeId, address arbiter);

    /// @dev The deadline has passed: no more reveals or votes.
    error OwnershipDisputesVotingClosed(uint256 disputeId, uint64 deadline);

    /// @dev The deadline has not passed yet: the dispute cannot be finalised.
    error OwnershipDisputesVotingOpen(uint256 disputeId, uint64 deadline);

    /// @dev The dispute is already resolved; it resolves exactly once.
    error OwnershipDisputesAlreadyResolved(uint256 disputeId);

    /// @dev Nothing is credited to the caller.
    error OwnershipDisputesNothingToWithdraw(address account);

    /// @dev Sending ether to `to` failed.
    error OwnershipDisputesPaymentFailed(address to, uint256 amount);

    /// @dev Emitted when `account` is granted `role` by `sender`.
    event RoleGranted(bytes32 indexed role, address indexed account, address indexed sender);

    /// @dev Emitted when `account` loses `role` (revoked by `sender`, or renounced when `sender == account`).
    event RoleRevoked(bytes32 indexed role, address indexed account, address indexed sender);

    /// @dev Emitted when dispute `disputeId` is opened.
    event DisputeOpened(
        uint256 indexed disputeId,
        uint256 indexed claimantRecord,
        bytes32 indexed suspectRoot,
        address claimant,
        uint256 suspectRecord,
        address suspectOwner,
        Priority priority,
        uint256 bond,
        uint64 deadline,
        bytes32 evidenceHash,
        string evidenceCid
    );

    /// @dev Emitted when the claimant revealed a key CID that matches the record's hash, with the data key that
    /// opens the record's sealed key artifact and the CID of the full report committed to at opening.
    event KeyRevealed(uint256 indexed disputeId, string keyCid, bytes32 dataKey, string reportCid);

    /// @dev Emitted when `arbiter` votes.
    event VoteCast(uint256 indexed disputeId, address indexed arbiter, bool uphold, string reportCid);

    /// @dev Emitted once per dispute when it is finalised; `recipient` is the bond's beneficiary.
    event DisputeResolved(uint256 indexed disputeId, Status indexed outcome, address indexed recipient, uint256 bond);

    /// @dev Emitted when a bond is paid out directly.
    event BondPaid(uint256 indexed disputeId, address indexed to, uint256 amount);

    /// @dev Emitted when a direct payment failed and the bond was credited for {withdraw} instead.
    event BondCredited(uint256 indexed disputeId, address indexed to, uint256 amount);

    /// @dev Emitted when `account` withdraws its credited bonds.
    event Withdrawn(address indexed account, uint256 amount);

    /**
     * @notice Opens a dispute of record `claimantRecord` against the model with Merkle root `suspectRoot`.
     * @dev If `suspectRoot` is registered, the contract records whose commitment came first (see {Priority}).
     *
     * `evidenceHash` is the SHA-256 of the full evidence report, which names the key and must stay private until
     * the reveal; `evidenceCid` is a public summary (verdict, p-values, WSR, the hash) and holds no secret.
     * The suspect record's owner at this block is stored: it stays a party whoever owns the record later.
     *
     * Requirements:
     * - `msg.value` equals {bond};
     * - the caller owns `claimantRecord`, which is live and anchors a watermark-key hash (a hash is anchored by
     *   one record only, the first to register it, so a record's key is always its own);
     * - `suspectRoot` is non-zero and is not the claimant record's own root;
     * - `evidenceHash` is non-zero and `evidenceCid` is non-empty.
     *
     * Emits a {DisputeOpened} event.
     * @return disputeId the new dispute's id (ids start at 1).
     */
    function openDispute(
        uint256 claimantRecord,
        bytes32 suspectRoot,
        bytes32 evidenceHash,
        string calldata evidenceCid
    ) external payable returns (uint256 disputeId);

    /**
     * @notice Reveals the claimant's watermark key: its CID and the data key of the sealed copy the record anchors.
     * @dev WARNING: the check is `keccak256(bytes(keyCid)) == record.watermarkKeyHash`; the string must be byte
     * for byte the one hashed at registration (canonical CIDv1 base32), or the reveal fails. The contract cannot
     * decrypt: that `dataKey` opens the anchored ciphertext to a plaintext with this CID is checked off-chain by
     * every arbiter before any model runs. The CID is a hash and leaks nothing; the plaintext is never published.
     * `reportCid` names the full evidence report, pinned now; arbiters check its SHA-256 against `evidenceHash`.
     *
     * Requirements:
     * - the caller is the dispute's claimant; the dispute is open, before its deadline, key not yet revealed;
     * - `keyCid` and `reportCid` are non-empty and `dataKey` is non-zero.
     *
     * Emits a {KeyRevealed} event.
     */
    function revealKey(uint256 disputeId, string calldata keyCid, bytes32 dataKey, string calldata reportCid)
        external;

    /**
     * @notice Casts an arbiter's vote on the watermark evidence, with the CID of the arbiter's report.
     *
     * Requirements:
     * - the caller holds {ARBITER_ROLE} and is neither the claimant nor the suspect's owner at opening;
     * - the dispute is open and before its deadline; the caller has not voted on it;
     * - to uphold, the key has been revealed.
     *
     * Emits a {VoteCast} event.
     */
    function vote(uint256 disputeId, bool uphold, string calldata reportCid) external;

    /**
     * @notice Resolves a dispute after its deadline; anyone may call. With at least `quorum` votes cast, a strict
     * majority decides (Upheld or Rejected); otherwise, or on a tie, the dispute is Undecided.
     * @dev The bond goes to the claimant (Upheld, Undecided) or to the suspect's owner at opening, else the
     * treasury (Rejected); if the transfer fails it is credited for {withdraw}.
     *
     * Requirements:
     * - the dispute exists, is past its deadline and not resolved yet.
     *
     * Emits a {DisputeResolved} event and a {BondPaid} or {BondCredited} event.
     */
    function finalise(uint256 disputeId) external returns (Status outcome);

    /**
     * @notice Withdraws bonds credited to the caller after a failed direct payment.
     *
     * Requirements:
     * - something is credited to the caller.
     *
     * Emits a {Withdrawn} event.
     */
    function withdraw() external;

    /**
     * @notice Grants `role` to `account`.
     *
     * Requirements:
     * - the caller holds {ADMIN_ROLE};
     * - {ARBITER_ROLE} goes to neither an admin nor the treasury, {ADMIN_ROLE} to neither an arbiter nor the
     *   treasury.
     *
     * Emits a {RoleGranted} event if `account` did not hold the role.
     */
    function grantRole(bytes32 role, address account) external;

    /**
     * @notice Revokes `role` from `account`.
     *
     * Requirements:
     * - the caller holds {ADMIN_ROLE}.
     *
     * Emits a {RoleRevoked} event if `account` held the role.
     */
    function revokeRole(bytes32 role, address account) external;

    /**
     * @notice Gives up one of the caller's roles.
     *
     * Emits a {RoleRevoked} event if the caller held the role.
     */
    function renounceRole(bytes32 role) external;

    /// @notice Returns whether `account` holds `role`.
    function hasRole(bytes32 role, address account) external view returns (bool);

    /// @notice Returns how many accounts hold {ARBITER_ROLE} (the N of M-of-N).
    function arbiterCount() external view returns (uint256);

    /**
     * @notice Returns dispute `disputeId`.
     *
     * Requirements:
     * - the dispute exists.
     */
    function dispute(uint256 disputeId) external view returns (Dispute memory);

    /// @notice Returns whether `arbiter` voted on dispute `disputeId`.
    function hasVoted(uint256 disputeId, address arbiter) external view returns (bool);

    /// @notice Returns how many disputes exist; ids run from 1 to this value.
    function disputeCount() external view returns (uint256);

    /// @notice Returns the ether credited to `account` for {withdraw}.
    function credited(address account) external view returns (uint256);

    /// @notice The role that grants and revokes roles.
    function ADMIN_ROLE() external view returns (bytes32);

    /// @notice The role that votes on disputes.
    function ARBITER_ROLE() external view returns (bytes32);

    /// @notice The longest voting period the constructor accepts, in seconds.
    function MAX_VOTING_PERIOD() external view returns (uint64);

    /// @notice The registry whose records are disputed.
    function registry() external view returns (address);

    /// @notice The bond, in wei, sent with {openDispute}.
    function bond() external view returns (uint256);

    /// @notice The number of votes (M, uphold and reject together) a dispute needs to be decided.
    function quorum() external view returns (uint32);

    /// @notice Seconds from opening to the deadline.
    function votingPeriod() external view returns (uint64);

    /// @notice Receives forfeited bonds of rejected disputes against unregistered models; never the admin.
    function treasury() external view returns (address);
}
