// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/**
 * @title IModelRegistry
 * @dev Provenance records for watermarked models: commit–reveal registration of a Merkle root over the
 * publication's artifacts, lineage between records, owner-only transfer and revocation, and on-chain
 * verification of an artifact's Merkle proof.
 *
 * Watermark-key hash scheme: `watermarkKeyHash = keccak256(bytes(keyCid))`, where `keyCid` is the string the
 * owner will reveal in a dispute: the canonical CID (CIDv1, raw leaves, base32 lower-case) of the plaintext
 * watermark key file. The CID is itself a SHA-256 content address of the plaintext, so the record commits to
 * the plaintext key through it while the contract can check a reveal with one keccak256. Zero means "no key".
 */
interface IModelRegistry {
    /// @dev How a record derives from its parent. `None` exactly when the record has no parent.
    enum Derivation {
        None,
        FineTune,
        Quantize,
        Prune,
        Distill,
        Other
    }

    /// @dev One registration. Storage is constant in the number of artifacts: only root and count are kept.
    struct Record {
        address owner;
        uint64 leafCount;
        Derivation derivation;
        bool revoked;
        bytes32 root;
        bytes32 watermarkKeyHash;
        uint64 parentId;
        uint64 commitBlock;
        uint64 registeredBlock;
        uint64 registeredAt;
        string manifestCid;
    }

    /// @dev The constructor's commitment ages are unusable: need `1 <= minAge <= maxAge`.
    error ModelRegistryInvalidCommitAges(uint64 minAge, uint64 maxAge);

    /// @dev The commitment is zero.
    error ModelRegistryZeroCommitment();

    /// @dev The commitment was already made (or already consumed) and cannot be made again.
    error ModelRegistryCommitmentExists(bytes32 commitment);

    /// @dev No commitment matches the revealed values for this sender (never made, or made by someone else).
    error ModelRegistryCommitmentNotFound(bytes32 commitment);

    /// @dev The commitment was already consumed by a registration.
    error ModelRegistryCommitmentUsed(bytes32 commitment);

    /// @dev The commitment is younger than the minimum age (`age` blocks, `minAge` required).
    error ModelRegistryCommitmentTooNew(bytes32 commitment, uint256 age, uint64 minAge);

    /// @dev The commitment is older than the maximum age (`age` blocks, `maxAge` allowed).
    error ModelRegistryCommitmentTooOld(bytes32 commitment, uint256 age, uint64 maxAge);

    /// @dev The Merkle root is zero.
    error ModelRegistryZeroRoot();

    /// @dev The leaf count is zero: a publication has at least one artifact.
    error ModelRegistryEmptyManifest();

    /// @dev The manifest CID is empty.
    error ModelRegistryEmptyManifestCid();

    /// @dev The root is already registered as record `recordId`.
    error ModelRegistryRootAlreadyRegistered(bytes32 root, uint256 recordId);

    /// @dev No record has this id.
    error ModelRegistryUnknownRecord(uint256 recordId);

    /// @dev The derivation does not fit the parent: `None` iff `parentId == 0`.
    error ModelRegistryInvalidDerivation(uint256 parentId, Derivation derivation);

    /// @dev `account` is not the owner of record `recordId`.
    error ModelRegistryUnauthorizedAccount(address account, uint256 recordId);

    /// @dev The record is revoked and cannot change any more.
    error ModelRegistryRecordRevoked(uint256 recordId);

    /// @dev The new owner is the zero address.
    error ModelRegistryInvalidOwner(address newOwner);

    /// @dev Emitted when `committer` stores `commitment` at block `blockNumber`.
    event CommitmentRecorded(bytes32 indexed commitment, address indexed committer, uint64 blockNumber);

    /// @dev Emitted when record `recordId` is created for `root` by `owner`. `parentId` is indexed so lineage
    /// queries can find a record's children; a root's record is found with {recordIdByRoot}.
    event ModelRegistered(
        uint256 indexed recordId,
        address indexed owner,
        uint256 indexed parentId,
        bytes32 root,
        uint64 leafCount,
        string manifestCid,
        bytes32 watermarkKeyHash,
        Derivation derivation
    );

    /// @dev Emitted when the rights to record `recordId` pass from `previousOwner` to `newOwner`.
    event RecordTransferred(uint256 indexed recordId, address indexed previousOwner, address indexed newOwner);

    /// @dev Emitted when `owner` revokes record `recordId`.
    event RecordRevoked(uint256 indexed recordId, address indexed owner);

    /**
     * @notice Stores a commitment to a future registration.
     * @dev `commitment` must equal {computeCommitment} for the registering sender. Because it binds the chain,
     * this contract and the sender, a copied commitment or a copied reveal is useless to anybody else.
     *
     * Requirements:
     * - `commitment` is non-zero and was never committed before.
     *
     * Emits a {CommitmentRecorded} event.
     */
    function commit(bytes32 commitment) external;

    /**
     * @notice Reveals a committed registration and creates the record.
     * @dev The commitment `computeCommitment(msg.sender, root, watermarkKeyHash, salt)` is consumed.
     *
     * Requirements:
     * - the commitment exists, is unused, and is between `minCommitAge` and `maxCommitAge` blocks old;
     * - `root` is non-zero and not yet registered; `leafCount` > 0; `manifestCid` non-empty;
     * - `parentId` is zero or an existing record, and `derivation` is `None` exactly when `parentId` is zero.
     *
     * Emits a {ModelRegistered} event.
     * @return recordId the new record's id (ids start at 1).
     */
    function register(
        bytes32 root,
        uint64 leafCount,
        string calldata manifestCid,
        bytes32 watermarkKeyHash,
        uint256 parentId,
        Derivation derivation,
        bytes32 salt
    ) external returns (uint256 recordId);

    /**
     * @notice Transfers the rights to a record (a sale of the model's rights).
     *
     * Requirements:
     * - the caller owns record `recordId`, which is not revoked; `newOwner` is not the zero address.
     *
     * Emits a {RecordTransferred} event.
     */
    function transfer(uint256 recordId, address newOwner) external;

    /**
     * @notice Revokes a record. It stays readable, reported as revoked.
     *
     * Requirements:
     * - the caller owns record `recordId`, which is not already revoked.
     *
     * Emits a {RecordRevoked} event.
     */
    function revoke(uint256 recordId) external;

    /**
     * @notice Checks that `leaf` sits at `index` of record `recordId`'s artifact tree.
     * @dev Same rules as `verifier/merkle.py`. Revocation is not part of the answer: read {record}.
     *
     * Requirements:
     * - record `recordId` exists.
     */
    function verifyArtifact(uint256 recordId, bytes32 leaf, uint256 index, bytes32[] calldata proof)
        external
        view
        returns (bool);

    /**
     * @notice Returns record `recordId`.
     *
     * Requirements:
     * - record `recordId` exists.
     */
    function record(uint256 recordId) external view returns (Record memory);

    /**
     * @notice Returns the parent of record `recordId` and how it derives from it (`0, None` for none).
     *
     * Requirements:
     * - record `recordId` exists.
     */
    function parentOf(uint256 recordId) external view returns (uint256 parentId, Derivation derivation);

    /// @notice Returns the record registered for `root`, or 0 when none is.
    function recordIdByRoot(bytes32 root) external view returns (uint256);

    /// @notice Returns how many records exist; ids run from 1 to this value.
    function recordCount() external view returns (uint256);

    /// @notice Returns the block at which `commitment` was made (0 if never) and whether it was consumed.
    function commitmentState(bytes32 commitment) external view returns (uint64 blockNumber, bool used);

    /// @notice Returns the commitment `sender` must make before registering these values.
    function computeCommitment(address sender, bytes32 root, bytes32 watermarkKeyHash, bytes32 salt)
        external
        view
        returns (bytes32);

    /// @notice Minimum age, in blocks, of a commitment at registration.
    function minCommitAge() external view returns (uint64);

    /// @notice Maximum age, in blocks, of a commitment at registration.
    function maxCommitAge() external view returns (uint64);
}
