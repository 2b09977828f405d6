// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IModelRegistry} from "./IModelRegistry.sol";
import {LedgermarkMerkle} from "./LedgermarkMerkle.sol";

/**
 * @title ModelRegistry
 * @dev Commit–reveal provenance registry for watermarked models (DESIGN.md §5).
 *
 * Registration takes two transactions. `commit(c)` stores an opaque commitment
 * `c = keccak256(abi.encode(block.chainid, address(this), msg.sender, root, watermarkKeyHash, salt))`; after at
 * least `minCommitAge` and at most `maxCommitAge` blocks, `register(...)` reveals the values, the contract
 * recomputes `c` with the *revealing* sender and consumes it. Someone who copies a pending `register`
 * transaction cannot steal its priority: the commitment they would need is bound to another sender and had to
 * be made blocks earlier. Someone who copies a `commit` learns nothing (the salt hides the root).
 *
 * The record's `commitBlock` is what disputes compare to decide whose claim came first.
 *
 * Storage per record is constant in the number of artifacts: the Merkle root, the leaf count and the manifest
 * CID, never the artifact list.
 */
contract ModelRegistry is IModelRegistry {
    struct Commitment {
        uint64 blockNumber;
        bool used;
    }

    mapping(uint256 recordId => Record) private _records;
    mapping(bytes32 root => uint256 recordId) private _recordIdByRoot;
    mapping(bytes32 commitment => Commitment) private _commitments;
    uint256 private _recordCount;

    uint64 private immutable _minCommitAge;
    uint64 private immutable _maxCommitAge;

    modifier onlyRecordOwner(uint256 recordId) {
        _checkRecordOwner(recordId, msg.sender);
        _;
    }

    /**
     * @dev Sets the commitment age window, in blocks.
     *
     * Requirements:
     * - `1 <= minAge <= maxAge` (a zero minimum would let commit and reveal share a block, which defeats the
     *   front-running protection).
     */
    constructor(uint64 minAge, uint64 maxAge) {
        if (minAge == 0 || minAge > maxAge) revert ModelRegistryInvalidCommitAges(minAge, maxAge);
        _minCommitAge = minAge;
        _maxCommitAge = maxAge;
    }

    /// @inheritdoc IModelRegistry
    function commit(bytes32 commitment) external {
        _commit(commitment, msg.sender);
    }

    /// @inheritdoc IModelRegistry
    function register(
        bytes32 root,
        uint64 leafCount,
        string calldata manifestCid,
        bytes32 watermarkKeyHash,
        uint256 parentId,
        Derivation derivation,
        bytes32 salt
    ) external returns (uint256 recordId) {
        uint64 commitBlock = _consumeCommitment(_commitmentOf(msg.sender, root, watermarkKeyHash, salt));
        _checkRegistration(root, leafCount, manifestCid, parentId, derivation);
        recordId = _register(
            msg.sender,
            root,
            leafCount,
            manifestCid,
            watermarkKeyHash,
            parentId,
            derivation,
            commitBlock
        );
    }

    /// @inheritdoc IModelRegistry
    function transfer(uint256 recordId, address newOwner) external onlyRecordOwner(recordId) {
        if (newOwner == address(0)) revert ModelRegistryInvalidOwner(newOwner);
        _transfer(recordId, newOwner);
    }

    /// @inheritdoc IModelRegistry
    function revoke(uint256 recordId) external onlyRecordOwner(recordId) {
        _revoke(recordId);
    }

    /// @inheritdoc IModelRegistry
    function verifyArtifact(uint256 recordId, bytes32 leaf, uint256 index, bytes32[] calldata proof)
        external
        view
        returns (bool)
    {
        Record storage rec = _existingRecord(recordId);
        return LedgermarkMerkle.verify(rec.root, rec.leafCount, leaf, index, proof);
    }

    /// @inheritdoc IModelRegistry
    function record(uint256 recordId) external view returns (Record memory) {
        return _existingRecord(recordId);
    }

    /// @inheritdoc IModelRegistry
    function parentOf(uint256 recordId) external view returns (uint256 parentId, Derivation derivation) {
        Record storage rec = _existingRecord(recordId);
        return (rec.parentId, rec.derivation);
    }

    /// @inheritdoc IModelRegistry
    function recordIdByRoot(bytes32 root) external view returns (uint256) {
        return _recordIdByRoot[root];
    }

    /// @inheritdoc IModelRegistry
    function recordCount() external view returns (uint256) {
        return _recordCount;
    }

    /// @inheritdoc IModelRegistry
    function commitmentState(bytes32 commitment) external view returns (uint64 blockNumber, bool used) {
        Commitment storage c = _commitments[commitment];
        return (c.blockNumber, c.used);
    }

    /// @inheritdoc IModelRegistry
    function computeCommitment(address sender, bytes32 root, bytes32 watermarkKeyHash, bytes32 salt)
        external
        view
        returns (bytes32)
    {
        return _commitmentOf(sender, root, watermarkKeyHash, salt);
    }

    /// @inheritdoc IModelRegistry
    function minCommitAge() external view returns (uint64) {
        return _minCommitAge;
    }

    /// @inheritdoc IModelRegistry
    function maxCommitAge() external view returns (uint64) {
        return _maxCommitAge;
    }

    /**
     * @dev Stores `commitment` for `committer` at the current block. A commitment can be made once, ever:
     * a consumed one stays marked used, so it can never be replayed.
     */
    function _commit(bytes32 commitment, address committer) internal {
        if (commitment == bytes32(0)) revert ModelRegistryZeroCommitment();
        if (_commitments[commitment].blockNumber != 0) revert ModelRegistryCommitmentExists(commitment);
        uint64 blockNumber = uint64(block.number);
        _commitments[commitment] = Commitment({blockNumber: blockNumber, used: false});
        emit CommitmentRecorded(commitment, committer, blockNumber);
    }

    /**
     * @dev Checks the age window of `commitment`, marks it used and returns the block it was made in.
     */
    function _consumeCommitment(bytes32 commitment) internal returns (uint64 commitBlock) {
        Commitment storage c = _commitments[commitment];
        commitBlock = c.blockNumber;
        if (commitBlock == 0) revert ModelRegistryCommitmentNotFound(commitment);
        if (c.used) revert ModelRegistryCommitmentUsed(commitment);
        uint256 age = block.number - commitBlock;
        if (age < _minCommitAge) revert ModelRegistryCommitmentTooNew(commitment, age, _minCommitAge);
        if (age > _maxCommitAge) revert ModelRegistryCommitmentTooOld(commitment, age, _maxCommitAge);
        c.used = true;
    }

    /**
     * @dev Validates the revealed values that do not depend on the commitment.
     */
    function _checkRegistration(
        bytes32 root,
        uint64 leafCount,
        string calldata manifestCid,
        uint256 parentId,
        Derivation derivation
    ) internal view {
        if (root == bytes32(0)) revert ModelRegistryZeroRoot();
        if (leafCount == 0) revert ModelRegistryEmptyManifest();
        if (bytes(manifestCid).length == 0) revert ModelRegistryEmptyManifestCid();
        uint256 existing = _recordIdByRoot[root];
        if (existing != 0) revert ModelRegistryRootAlreadyRegistered(root, existing);
        if (parentId != 0) _existingRecord(parentId);
        if ((parentId == 0) != (derivation == Derivation.None)) {
            revert ModelRegistryInvalidDerivation(parentId, derivation);
        }
    }

    /**
     * @dev Writes a new record; no checks.
     */
    function _register(
        address owner,
        bytes32 root,
        uint64 leafCount,
        string calldata manifestCid,
        bytes32 watermarkKeyHash,
        uint256 parentId,
        Derivation derivation,
        uint64 commitBlock
    ) internal returns (uint256 recordId) {
        recordId = ++_recordCount;
        Record storage rec = _records[recordId];
        rec.owner = owner;
        rec.leafCount = leafCount;
        rec.derivation = derivation;
        rec.root = root;
        rec.watermarkKeyHash = watermarkKeyHash;
        // cannot truncate: parentId <= _recordCount, which grows by one per transaction and stays far below 2**64
        rec.parentId = uint64(parentId);
        rec.commitBlock = commitBlock;
        rec.registeredBlock = uint64(block.number);
        rec.registeredAt = uint64(block.timestamp);
        rec.manifestCid = manifestCid;
        _recordIdByRoot[root] = recordId;
        emit ModelRegistered(recordId, owner, parentId, root, leafCount, manifestCid, watermarkKeyHash, derivation);
    }

    /**
     * @dev Moves record `recordId` to `newOwner`; no checks.
     */
    function _transfer(uint256 recordId, address newOwner) internal {
        Record storage rec = _records[recordId];
        address previousOwner = rec.owner;
        rec.owner = newOwner;
        emit RecordTransferred(recordId, previousOwner, newOwner);
    }

    /**
     * @dev Marks record `recordId` revoked; no checks.
     */
    function _revoke(uint256 recordId) internal {
        Record storage rec = _records[recordId];
        rec.revoked = true;
        emit RecordRevoked(recordId, rec.owner);
    }

    /**
     * @dev Reverts unless `account` owns record `recordId` and the record is live.
     */
    function _checkRecordOwner(uint256 recordId, address account) internal view {
        Record storage rec = _existingRecord(recordId);
        if (rec.owner != account) revert ModelRegistryUnauthorizedAccount(account, recordId);
        if (rec.revoked) revert ModelRegistryRecordRevoked(recordId);
    }

    /**
     * @dev Returns the stored record, reverting for an unknown id.
     */
    function _existingRecord(uint256 recordId) internal view returns (Record storage rec) {
        rec = _records[recordId];
        if (rec.owner == address(0)) revert ModelRegistryUnknownRecord(recordId);
    }

    /**
     * @dev The commitment for a registration by `sender`. WARNING: every field is abi.encode'd (fixed 32-byte
     * words), never encodePacked, so no two different tuples share a preimage.
     */
    function _commitmentOf(address sender, bytes32 root, bytes32 watermarkKeyHash, bytes32 salt)
        internal
        view
        returns (bytes32)
    {
        return keccak256(abi.encode(block.chainid, address(this), sender, root, watermarkKeyHash, salt));
    }
}
