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
 * A non-zero key hash is anchored by one record only: the first registration owns it ({recordOfKeyHash}).
 *
 * Manifest CID scheme: a record's {ModelRegistered} event carries the manifest CID as its sha2-256 digest and
 * a one-byte tag, never as a string: tag `0x00` is CIDv0 (dag-pb), `0x70` CIDv1 dag-pb, `0x55` CIDv1 raw (the
 * multicodec). Readers rebuild the canonical string (base58btc `Qm…` for v0, base32 `b…` for v1).
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
        Derivation derivation;
        bool revoked;
        bool keyed;
        uint64 commitBlock;
        uint64 registeredBlock;
    }

    /// @dev What the root index holds besides the record id: the leaf count {verifyArtifact} needs, the parent
    /// and the registration time.
    struct RootFacts {
        uint256 recordId;
        uint256 parentId;
        uint64 leafCount;
        uint64 registeredAt;
    }

    /// @dev The constructor's commitment ages are unusable: need `1 <= minAge <= maxAge < 2**32`.
    error ModelRegistryInvalidCommitAges(uint64 minAge, uint64 maxAge);

    /// @dev The commitment is zero.
    error ModelRegistryZeroCommitment();

    /// @dev The sender already has this commitment pending. Another account's identical commitment is its own
    /// and never collides.
    error ModelRegistryCommitmentExists(bytes32 commitment);

    /// @dev The sender has no pending commitment matching the revealed values (never made, made by someone
    /// else, or already consumed by a registration).
    error ModelRegistryCommitmentNotFound(bytes32 commitment);

    /// @dev The commitment is younger than the minimum age (`age` blocks, `minAge` required).
    error ModelRegistryCommitmentTooNew(bytes32 commitment, uint256 age, uint64 minAge);

    /// @dev The commitment is older than the maximum age (`age` blocks, `maxAge` allowed).
    error ModelRegistryCommitmentTooOld(bytes32 commitment, uint256 age, uint64 maxAge);

    /// @dev The Merkle root is zero.
    error ModelRegistryZeroRoot();

    /// @dev The leaf count is zero: a publication has at least one artifact.
    error ModelRegistryEmptyManifest();

    /// @dev The manifest CID's digest is zero.
    error ModelRegistryEmptyManifestCid();

    /// @dev The manifest CID tag is not `0x00` (CIDv0), `0x70` (CIDv1 dag-pb) or `0x55` (CIDv1 raw).
    error ModelRegistryUnsupportedManifestCodec(uint8 codec);

    /// @dev The watermark-key hash is already anchored by record `recordId`, which owns it.
    error ModelRegistryWatermarkKeyTaken(bytes32 keyHash, uint256 recordId);

    /// @dev The root is already registered as record `recordId`.
    error ModelRegistryRootAlreadyRegistered(bytes32 root, uint256 recordId);

    /// @dev `root` is not the root of record `recordId`.
    error ModelRegistryNotRecordRoot(uint256 recordId, bytes32 root);

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

    /// @dev Emitted when `committer` stores `commitment` (in the log's block).
    event CommitmentRecorded(bytes32 indexed commitment, address indexed committer);

    /// @dev Emitted when record `recordId` is created for `root` by `owner`: the record's one full copy (chain
    /// state keeps what contracts read, see {record}). `parentId` is indexed so lineage queries can find a
    /// record's children; a root's record is found with {recordIdByRoot}.
    event ModelRegistered(
        uint256 indexed recordId,
        address indexed owner,
        uint256 indexed parentId,
        bytes32 root,
        uint64 leafCount,
        bytes32 manifestDigest,
        uint8 manifestCodec,
        bytes32 watermarkKeyHash,
        Derivation derivation
    );

    /// @dev Emitted when the rights to record `recordId` pass from `previousOwner` to `newOwner`.
    event RecordTransferred(uint256 indexed recordId, address indexed previousOwner, address indexed newOwner);

    /// @dev Emitted when `owner` revokes record `recordId`.
    event RecordRevoked(uint256 indexed recordId, address indexed owner);

    /**
     * @notice Stores a commitment to a future registration, under the sender.
     * @dev `commitment` must equal {computeCommitment} for the registering sender. Commitments are keyed by
     * committer: somebody who copies a pending `commit` gets a commitment of their own that neither blocks the
     * original (no collision) nor lets them register (the reveal recomputes it with their address).
     *
     * Requirements:
     * - `commitment` is non-zero and not already pending for the sender.
     *
     * Emits a {CommitmentRecorded} event.
     */
    function commit(bytes32 commitment) external;

    /**
     * @notice Reveals a committed registration and creates the record.
     * @dev The sender's commitment `computeCommitment(msg.sender, root, watermarkKeyHash, salt)` is consumed
     * (deleted: a replay fails on the registered root).
     *
     * Requirements:
     * - the sender's commitment exists and is between `minCommitAge` and `maxCommitAge` blocks old;
     * - `root` is non-zero and not yet registered; `leafCount` > 0; `manifestDigest` non-zero and
     *   `manifestCodec` one of `0x00`, `0x70`, `0x55`;
     * - `watermarkKeyHash` is zero or not anchored by any record yet;
     * - `parentId` is zero or an existing record, and `derivation` is `None` exactly when `parentId` is zero.
     *
     * Emits a {ModelRegistered} event.
     * @return recordId the new record's id (ids start at 1).
     */
    function register(
        bytes32 root,
        uint64 leafCount,
        bytes32 manifestDigest,
        uint8 manifestCodec,
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
     * @notice Checks that `leaf` sits at `index` of the artifact tree under `root`, record `recordId`'s root.
     * @dev Same rules as `verifier/merkle.py`. The caller names the root (read it from the record's
     * {ModelRegistered} event): the root index checks that it is this record's. Revocation is not part of the
     * answer: read {record}.
     *
     * Requirements:
     * - record `recordId` exists and `root` is its root.
     */
    function verifyArtifact(uint256 recordId, bytes32 root, bytes32 leaf, uint256 index, bytes32[] calldata proof)
        external
        view
        returns (bool);

    /**
     * @notice Returns what the contracts read of record `recordId`: owner, derivation, revocation, whether it
     * anchors a watermark key, its commitment's block and its registration block.
     * @dev The rest (root, leaf count, manifest CID, key hash, parent) is in the record's {ModelRegistered}
     * event, which `registeredBlock` locates in one `eth_getLogs` call; {recordIdByRoot} and {recordOfKeyHash}
     * bind the event's root and key hash to this id, so a reader checks them against chain state.
     *
     * Requirements:
     * - record `recordId` exists.
     */
    function record(uint256 recordId) external view returns (Record memory);

    /// @notice Returns the root index's entry for `root` (all zero when no record has this root).
    function rootFacts(bytes32 root) external view returns (RootFacts memory);

    /// @notice Returns the record registered for `root`, or 0 when none is.
    function recordIdByRoot(bytes32 root) external view returns (uint256);

    /// @notice Returns how many records exist; ids run from 1 to this value.
    function recordCount() external view returns (uint256);

    /// @notice Returns the record that anchors watermark-key hash `watermarkKeyHash`, or 0 when none does.
    function recordOfKeyHash(bytes32 watermarkKeyHash) external view returns (uint256);

    /// @notice Returns the block at which `committer` made `commitment`, or 0 when it is not pending (never
    /// made, or consumed).
    function commitmentState(address committer, bytes32 commitment) external view returns (uint64 blockNumber);

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
