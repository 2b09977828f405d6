// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IModelRegistry} from "./IModelRegistry.sol";
import {LedgermarkMerkle} from "./LedgermarkMerkle.sol";

/**
 * @title ModelRegistry
 * @dev Commit–reveal provenance registry for watermarked models (DESIGN.md §5).
 *
 * Registration takes two transactions. `commit(c)` stores an opaque commitment
 * `c = keccak256(abi.encode(block.chainid, address(this), msg.sender, root, watermarkKeyHash, salt))` under
 * `msg.sender`; after at least `minCommitAge` and at most `maxCommitAge` blocks, `register(...)` reveals the
 * values, the contract recomputes `c` with the *revealing* sender, looks it up under that sender and deletes it.
 * Someone who copies a pending `register` cannot steal its priority: the commitment they would need is bound to
 * another sender and had to be made blocks earlier. Someone who copies a pending `commit` learns nothing (the
 * salt hides the root) and blocks nothing: their copy is stored under their own address.
 *
 * Watermark-key binding: a non-zero key hash is anchored by the first record that registers it; later ones
 * revert with {ModelRegistryWatermarkKeyTaken}. Under commit–reveal, "first registration" is "earliest
 * commitment": the key hash is keccak256 of the plaintext key's CID, which the owner keeps secret (only the
 * sealed key is published), so nobody else can know it before the owner's `register` shows it, and by then
 * the owner's commitment is at least `minCommitAge` blocks old. A copier must commit afterwards and wait
 * `minCommitAge` blocks, while the owner's reveal is already on its way: their commitment and their
 * registration both come later. The exception is a key hash exposed without landing within `minCommitAge`
 * blocks: a reveal that waits that long in the mempool (set `minCommitAge` above the inclusion delay the chain
 * can have), or one that reverts for another reason (`publish` prechecks the root, the parent and the key hash
 * before committing, so its reveal does not fail that way). Then a copier's later commitment could register
 * first; earliest-commit-wins would need records to be re-bound after the fact, which this contract avoids.
 *
 * The record's `commitBlock` is what disputes compare to decide whose claim came first.
 *
 * Storage per record is three slots, whatever the number of artifacts: the record's slot by id (what contracts
 * read: owner, blocks, flags), the root index (id, parent, leaf count, time) and the key-hash index (only for a
 * non-zero key hash). The hashes themselves (root, manifest CID, key hash) are written once, in the
 * {ModelRegistered} event, which the slot's `registeredBlock` locates; readers check the event's root and key
 * hash against the two indexes. This keeps a publication under 150,000 gas (bench/gas.py).
 */
contract ModelRegistry is IModelRegistry {
    /// @dev What the contracts read by id, in one slot (160 + 40 + 32 + 3 × 8 = 256 bits).
    struct RecordSlot {
        address owner;
        uint40 registeredBlock;
        uint32 commitAge;
        Derivation derivation;
        bool revoked;
        bool keyed;
    }

    /// @dev The root index, one slot: the record id and the facts {verifyArtifact} and lineage need (uint40
    /// ids grow by one per registration, uint48 timestamps stay far below 2**48).
    struct RootEntry {
        uint40 recordId;
        uint40 parentId;
        uint64 leafCount;
        uint48 registeredAt;
    }

    mapping(uint256 recordId => RecordSlot) private _records;
    mapping(bytes32 root => RootEntry) private _byRoot;
    mapping(bytes32 watermarkKeyHash => uint256 recordId) private _recordOfKeyHash;
    mapping(address committer => mapping(bytes32 commitment => uint256 blockNumber)) private _commitments;
    /// @dev Starts at 1 in the constructor, so even the first registration updates a non-zero slot (5,000 gas)
    /// instead of creating one (22,100): every publication costs the same.
    uint256 private _nextRecordId;

    uint64 private immutable _minCommitAge;
    uint64 private immutable _maxCommitAge;

    uint8 private constant _CODEC_V0 = 0x00;
    uint8 private constant _CODEC_DAG_PB = 0x70;
    uint8 private constant _CODEC_RAW = 0x55;

    modifier onlyRecordOwner(uint256 recordId) {
        _checkRecordOwner(recordId, msg.sender);
        _;
    }

    /**
     * @dev Sets the commitment age window, in blocks.
     *
     * Requirements:
     * - `1 <= minAge <= maxAge < 2**32` (a zero minimum would let commit and reveal share a block, which defeats
     *   the front-running protection; a record stores its commitment's age in 32 bits).
     */
    constructor(uint64 minAge, uint64 maxAge) {
        if (minAge == 0 || minAge > maxAge || maxAge > type(uint32).max) {
            revert ModelRegistryInvalidCommitAges(minAge, maxAge);
        }
        _minCommitAge = minAge;
        _nextRecordId = 1;
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
        bytes32 manifestDigest,
        uint8 manifestCodec,
        bytes32 watermarkKeyHash,
        uint256 parentId,
        Derivation derivation,
        bytes32 salt
    ) external returns (uint256 recordId) {
        uint64 commitBlock = _consumeCommitment(msg.sender, _commitmentOf(msg.sender, root, watermarkKeyHash, salt));
        _checkRegistration(root, leafCount, manifestDigest, manifestCodec, watermarkKeyHash, parentId, derivation);
        recordId = _register(root, leafCount, watermarkKeyHash, parentId, derivation, commitBlock);
        emit ModelRegistered(
            recordId,
            msg.sender,
            parentId,
            root,
            leafCount,
            manifestDigest,
            manifestCodec,
            watermarkKeyHash,
            derivation
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
    function verifyArtifact(uint256 recordId, bytes32 root, bytes32 leaf, uint256 index, bytes32[] calldata proof)
        external
        view
        returns (bool)
    {
        _existingRecord(recordId);
        RootEntry storage entry = _byRoot[root];
        if (entry.recordId != recordId) revert ModelRegistryNotRecordRoot(recordId, root);
        return LedgermarkMerkle.verify(root, entry.leafCount, leaf, index, proof);
    }

    /// @inheritdoc IModelRegistry
    function record(uint256 recordId) external view returns (Record memory) {
        RecordSlot storage rec = _existingRecord(recordId);
        return Record({
            owner: rec.owner,
            derivation: rec.derivation,
            revoked: rec.revoked,
            keyed: rec.keyed,
            commitBlock: rec.registeredBlock - rec.commitAge,
            registeredBlock: rec.registeredBlock
        });
    }

    /// @inheritdoc IModelRegistry
    function rootFacts(bytes32 root) external view returns (RootFacts memory) {
        RootEntry storage entry = _byRoot[root];
        return RootFacts({
            recordId: entry.recordId,
            parentId: entry.parentId,
            leafCount: entry.leafCount,
            registeredAt: entry.registeredAt
        });
    }

    /// @inheritdoc IModelRegistry
    function recordIdByRoot(bytes32 root) external view returns (uint256) {
        return _byRoot[root].recordId;
    }

    /// @inheritdoc IModelRegistry
    function recordOfKeyHash(bytes32 watermarkKeyHash) external view returns (uint256) {
        return _recordOfKeyHash[watermarkKeyHash];
    }

    /// @inheritdoc IModelRegistry
    function recordCount() external view returns (uint256) {
        return _nextRecordId - 1;
    }

    /// @inheritdoc IModelRegistry
    function commitmentState(address committer, bytes32 commitment) external view returns (uint64 blockNumber) {
        return uint64(_commitments[committer][commitment]);
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
     * @dev Stores `commitment` under `committer` at the current block. Only the committer's own pending copy
     * collides; a consumed commitment is deleted (its replay would fail on the registered root anyway).
     */
    function _commit(bytes32 commitment, address committer) internal {
        if (commitment == bytes32(0)) revert ModelRegistryZeroCommitment();
        mapping(bytes32 => uint256) storage mine = _commitments[committer];
        if (mine[commitment] != 0) revert ModelRegistryCommitmentExists(commitment);
        mine[commitment] = block.number;
        emit CommitmentRecorded(commitment, committer);
    }

    /**
     * @dev Checks the age window of `committer`'s `commitment`, deletes it (a storage refund) and returns the
     * block it was made in.
     */
    function _consumeCommitment(address committer, bytes32 commitment) internal returns (uint64 commitBlock) {
        mapping(bytes32 => uint256) storage mine = _commitments[committer];
        commitBlock = uint64(mine[commitment]);
        if (commitBlock == 0) revert ModelRegistryCommitmentNotFound(commitment);
        uint256 age = block.number - commitBlock;
        if (age < _minCommitAge) revert ModelRegistryCommitmentTooNew(commitment, age, _minCommitAge);
        if (age > _maxCommitAge) revert ModelRegistryCommitmentTooOld(commitment, age, _maxCommitAge);
        delete mine[commitment];
    }

    /**
     * @dev Validates the revealed values that do not depend on the commitment.
     */
    function _checkRegistration(
        bytes32 root,
        uint64 leafCount,
        bytes32 manifestDigest,
        uint8 manifestCodec,
        bytes32 watermarkKeyHash,
        uint256 parentId,
        Derivation derivation
    ) internal view {
        if (root == bytes32(0)) revert ModelRegistryZeroRoot();
        if (leafCount == 0) revert ModelRegistryEmptyManifest();
        if (manifestDigest == bytes32(0)) revert ModelRegistryEmptyManifestCid();
        if (manifestCodec != _CODEC_V0 && manifestCodec != _CODEC_DAG_PB && manifestCodec != _CODEC_RAW) {
            revert ModelRegistryUnsupportedManifestCodec(manifestCodec);
        }
        uint256 existing = _byRoot[root].recordId;
        if (existing != 0) revert ModelRegistryRootAlreadyRegistered(root, existing);
        if (watermarkKeyHash != bytes32(0)) {
            uint256 holder = _recordOfKeyHash[watermarkKeyHash];
            if (holder != 0) revert ModelRegistryWatermarkKeyTaken(watermarkKeyHash, holder);
        }
        if (parentId != 0) _existingRecord(parentId);
        if ((parentId == 0) != (derivation == Derivation.None)) {
            revert ModelRegistryInvalidDerivation(parentId, derivation);
        }
    }

    /**
     * @dev Writes a new record's slot and its indexes; no checks. A zero key hash costs no slot.
     */
    function _register(
        bytes32 root,
        uint64 leafCount,
        bytes32 watermarkKeyHash,
        uint256 parentId,
        Derivation derivation,
        uint64 commitBlock
    ) internal returns (uint256 recordId) {
        recordId = _nextRecordId++;
        bool keyed = watermarkKeyHash != bytes32(0);
        // cannot truncate: ids grow by one per registration, block numbers and timestamps stay far below 2**40,
        // and the commitment's age is at most `_maxCommitAge` < 2**32 (constructor)
        _records[recordId] = RecordSlot({
            owner: msg.sender,
            registeredBlock: uint40(block.number),
            commitAge: uint32(block.number - commitBlock),
            derivation: derivation,
            revoked: false,
            keyed: keyed
        });
        _byRoot[root] = RootEntry({
            recordId: uint40(recordId),
            parentId: uint40(parentId),
            leafCount: leafCount,
            registeredAt: uint48(block.timestamp)
        });
        if (keyed) _recordOfKeyHash[watermarkKeyHash] = recordId;
    }

    /**
     * @dev Moves record `recordId` to `newOwner`; no checks.
     */
    function _transfer(uint256 recordId, address newOwner) internal {
        RecordSlot storage rec = _records[recordId];
        address previousOwner = rec.owner;
        rec.owner = newOwner;
        emit RecordTransferred(recordId, previousOwner, newOwner);
    }

    /**
     * @dev Marks record `recordId` revoked; no checks.
     */
    function _revoke(uint256 recordId) internal {
        RecordSlot storage rec = _records[recordId];
        rec.revoked = true;
        emit RecordRevoked(recordId, rec.owner);
    }

    /**
     * @dev Reverts unless `account` owns record `recordId` and the record is live.
     */
    function _checkRecordOwner(uint256 recordId, address account) internal view {
        RecordSlot storage rec = _existingRecord(recordId);
        if (rec.owner != account) revert ModelRegistryUnauthorizedAccount(account, recordId);
        if (rec.revoked) revert ModelRegistryRecordRevoked(recordId);
    }

    /**
     * @dev Returns the stored record, reverting for an unknown id.
     */
    function _existingRecord(uint256 recordId) internal view returns (RecordSlot storage rec) {
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
