// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/**
 * @title LedgermarkMerkle
 * @dev Position-bound Merkle proofs over a publication's artifacts, bit-compatible with `verifier/merkle.py`.
 *
 * Tree rules (DESIGN.md §4):
 * - leaf = keccak256(0x00 ‖ abi.encode(role, path, size, sha256, cid)), computed off-chain;
 * - node = keccak256(0x01 ‖ left ‖ right);
 * - the last node of an odd level is promoted unchanged (never duplicated, see CVE-2012-2459);
 * - the leaf count is committed next to the root, so the verifier knows at every level whether a node has a
 *   sibling, consumes every proof element exactly once and requires `index < leafCount`.
 *
 * WARNING: leaves and internal nodes are hashed with different one-byte prefixes. Without them a 64-byte leaf
 * preimage could be presented as the concatenation of two children (the second-preimage attack that
 * OpenZeppelin's MerkleProof.sol warns about). Never feed this library a leaf that was not built with the
 * 0x00 prefix.
 */
library LedgermarkMerkle {
    bytes1 private constant _NODE_PREFIX = 0x01;

    /**
     * @dev Returns true iff `proof` places `leaf` at position `index` of a `leafCount`-leaf tree whose root is
     * `root`. Returns false (never reverts) for an out-of-range index or a proof of the wrong length.
     *
     * The loop runs once per tree level, i.e. at most 64 times for a `uint64` leaf count, however long the
     * caller-supplied proof is: proof elements beyond what the levels consume make the result false.
     */
    function verify(
        bytes32 root,
        uint64 leafCount,
        bytes32 leaf,
        uint256 index,
        bytes32[] calldata proof
    ) internal pure returns (bool) {
        if (index >= leafCount) return false;
        bytes32 computed = leaf;
        uint256 used = 0;
        uint256 count = leafCount;
        while (count > 1) {
            if (index & 1 == 1 || index + 1 < count) {
                if (used == proof.length) return false;
                bytes32 sibling = proof[used];
                computed = index & 1 == 1 ? hashNode(sibling, computed) : hashNode(computed, sibling);
                // cannot overflow: `used` is bounded by proof.length
                unchecked {
                    ++used;
                }
            }
            index >>= 1;
            // cannot overflow: count starts as a uint64 and only shrinks, so count + 1 < 2**65
            unchecked {
                count = (count + 1) >> 1;
            }
        }
        return used == proof.length && computed == root;
    }

    /**
     * @dev Internal node hash: keccak256(0x01 ‖ left ‖ right).
     */
    function hashNode(bytes32 left, bytes32 right) internal pure returns (bytes32 result) {
        result = keccak256(abi.encodePacked(_NODE_PREFIX, left, right));
    }
}
