"""The buyer's maths, without torch: manifests (entries, canonical JSON, comparisons), the Merkle tree shared
with the contract, and sealing of watermark keys."""
