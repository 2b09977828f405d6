// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IModelRegistry} from "IModelRegistry.sol";

/**
 * @title BulkRegistrar
 * @dev Bench only (bench/index.py), never deployed by Ledgermark: registers many records per transaction through
 * the real ModelRegistry, so a benchmark reaches 100,000 records in minutes instead of 200,000 transactions.
 * This contract is the committer and so the owner of every record; watermark-key hash and salt are zero.
 */
contract BulkRegistrar {
    IModelRegistry private immutable _registry;

    constructor(IModelRegistry registry) {
        _registry = registry;
    }

    /// @dev Commits to registering each root (the commitment {IModelRegistry-computeCommitment} gives for this
    /// contract, zero key hash, zero salt).
    function commitMany(bytes32[] calldata roots) external {
        for (uint256 i = 0; i < roots.length; ++i) {
            _registry.commit(
                keccak256(abi.encode(block.chainid, address(_registry), address(this), roots[i], bytes32(0), bytes32(0)))
            );
        }
    }

    /// @dev Registers each committed root: one artifact, a CIDv0 manifest digest, the given parent (0: none;
    /// otherwise derived by fine-tuning).
    function registerMany(bytes32[] calldata roots, bytes32[] calldata manifestDigests, uint256[] calldata parents)
        external
    {
        for (uint256 i = 0; i < roots.length; ++i) {
            IModelRegistry.Derivation derivation =
                parents[i] == 0 ? IModelRegistry.Derivation.None : IModelRegistry.Derivation.FineTune;
            _registry.register(roots[i], 1, manifestDigests[i], 0, bytes32(0), parents[i], derivation, bytes32(0));
        }
    }
}
