"""Gas of every Ledgermark transaction, measured on the in-process EVM (py-evm, shanghai rules).

Informs: whether anchoring stays cheap as a publication grows, and what a publication costs. The registry keeps
only the Merkle root, leaf count and manifest CID, so `register` must cost the same for 2 and for 50 artifacts;
this script fails (exit 1) when it does not, or when a publication (commit + register, with a watermark-key
hash) costs more than ``PUBLICATION_BUDGET``. The table shows the numbers before issue 10 beside today's.

    python bench/gas.py --json docs/results/gas.json   # also writes docs/results/gas.md

Gas is deterministic for fixed inputs, so one run suffices. Calldata costs 4 gas per zero byte and 16 per
non-zero byte; the roots compared are chosen without zero bytes so the two registrations differ only in what
the contract stores. Registrations are measured after a warm-up record (the first one also initialises the
record counter, 15k gas more).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from web3 import EthereumTesterProvider

from registry import chain as chainlib
from registry.chain import abi, deployments
from verifier.integrity import merkle

MANIFEST_CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"  # CIDv1 base32, 59 chars
KEY_CID = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
DATA_KEY = bytes(range(1, 33))  # the sealed key's AES-256 data key, revealed with the key CID
# the claimant's record owns this key hash: a dispute's claimant must be the first record to anchor its key
CLAIMANT_KEY_CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
EVIDENCE_SHA256 = hashlib.sha256(b"the full evidence report").digest()  # committed at opening
COMMAND = ".venv/bin/python bench/gas.py --json docs/results/gas.json"
SALT = bytes(range(1, 33))
BOND_WEI = 10**17
VOTING_PERIOD_S = 3600
PUBLICATION_BUDGET = 150_000
"""Target gas of one publication, commit + register (issue 10)."""
PUBLICATION = "publication (commit + register)"
REFERENCE = {
    "commit": 46_308,
    "register (2 artifacts)": 218_796,
    "register (50 artifacts)": 218_796,
    PUBLICATION: 265_104,
    "transfer": 29_657,
    "revoke": 28_749,
    "openDispute": 251_908,
    "revealKey": 145_980,
    "vote": 82_037,
    "finalise": 42_989,
}
"""The table before issue 10 (docs/results/gas.json of 0e9b36e: one global commitment map, the manifest CID as a
string, no key-hash index)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--json", type=Path, help="write the results as JSON to this file, and the table beside it (.md)"
    )
    return parser


def manifest_root(artifacts: int, seed: int = 0) -> bytes:
    """Root over ``artifacts`` realistic leaves; the first seed whose root has no zero byte (see docstring)."""
    while True:
        leaves = []
        for i in range(artifacts):
            digest = hashlib.sha256(f"{seed}:{i}".encode()).digest()
            leaves.append(
                merkle.leaf_hash("model", f"shard-{i:03d}.bin", 1 << 20, digest, b"\x01\x55\x12\x20" + digest)
            )
        root = merkle.merkle_root(leaves)
        if 0 not in root:
            return root
        seed += 1


def measure() -> dict[str, int]:
    """Run every operation once on a fresh chain and return its gas."""
    chain = chainlib.Chain.connect(EthereumTesterProvider())
    signers = [chain.with_account(a) for a in chain.dev_accounts()[:4]]
    registry = chainlib.ModelRegistryClient(chain, deployments.deploy_registry(chain))
    disputes = chainlib.OwnershipDisputesClient(
        chain,
        deployments.deploy_disputes(
            chain, registry.address, bond_wei=BOND_WEI, quorum=1, voting_period_s=VOTING_PERIOD_S
        ),
    )
    gas: dict[str, int] = {}

    def register(artifacts: int, seed: int) -> tuple[int, int, int]:
        """A keyed registration; each record anchors its own key hash (one record per key hash)."""
        root = manifest_root(artifacts, seed)
        key_hash = chainlib.watermark_key_hash(f"{KEY_CID}?seed={seed}")
        commit = registry.commit(registry.compute_commitment(root, key_hash, SALT))
        chain.mine(1)
        record_id, reveal = registry.register(root, artifacts, MANIFEST_CID, key_hash, salt=SALT)
        return record_id, commit.gas_used, reveal.gas_used

    register(3, seed=1000)  # warm-up: the first record also initialises the counter
    _, gas["commit"], gas["register (2 artifacts)"] = register(2, seed=0)
    _, _, gas["register (50 artifacts)"] = register(50, seed=2000)
    gas[PUBLICATION] = gas["commit"] + gas["register (2 artifacts)"]
    sold, _, _ = register(4, seed=3000)
    gas["transfer"] = registry.transfer(sold, signers[1].address).gas_used
    gas["revoke"] = registry.using(signers[1]).revoke(sold).gas_used

    suspect, _ = registry.using(signers[2]).publish(manifest_root(7, seed=4000), 7, MANIFEST_CID)
    disputes.grant_arbiter(signers[3].address)
    owner_of_key, _ = registry.publish(
        manifest_root(5, seed=5000), 5, MANIFEST_CID, chainlib.watermark_key_hash(CLAIMANT_KEY_CID)
    )
    dispute_id, opened = disputes.open_dispute(owner_of_key, suspect, EVIDENCE_SHA256, MANIFEST_CID)
    gas["openDispute"] = opened.gas_used
    revealed = disputes.reveal_key(dispute_id, CLAIMANT_KEY_CID, DATA_KEY, MANIFEST_CID)
    gas["revealKey"] = revealed.gas_used
    gas["vote"] = disputes.using(signers[3]).vote(dispute_id, True, MANIFEST_CID).gas_used
    chain.time_travel(VOTING_PERIOD_S + 1)
    gas["finalise"] = disputes.finalise(dispute_id)[1].gas_used
    return gas


def render(gas: dict[str, int]) -> str:
    """Today's gas beside the reference (before issue 10) and the change."""
    width = max(len(k) for k in gas)
    head = f"| {'operation':<{width}} | {'gas':>9} | {'before':>9} | {'change':>7} |"
    lines = [head, f"|{'-' * (width + 2)}|{'-' * 10}:|{'-' * 10}:|{'-' * 8}:|"]
    for name, value in gas.items():
        before = REFERENCE.get(name)
        shown = f"{before:>9,}" if before else f"{'':>9}"
        change = f"{(value - before) / before:>+7.0%}" if before else f"{'':>7}"
        lines.append(f"| {name:<{width}} | {value:>9,} | {shown} | {change} |")
    return "\n".join(lines)


NOTES = """Reading the table:
- `register` costs the same for 2 and 50 artifacts: a record stores the Merkle root, the leaf count and the
  manifest CID, never the artifact list (the script exits 1 if the two differ). Registrations are measured
  with a watermark-key hash, after a warm-up record (the very first one also initialises the record counter,
  about 15k gas more).
- Publishing is `commit` + `register` in two transactions, at least `minCommitAge` blocks apart. `commit`
  writes one fresh slot under (committer, commitment); `register` deletes it (a 4,800 refund) and writes six:
  owner + leaf count + derivation + revoked + CID tag; root; the manifest CID's 32-byte digest (was three
  slots of string); the key hash; the root index, which also packs record id, parent, commit block,
  registered block and timestamp (uint48 each); and the key-hash → record index that makes the first
  registration own its key (issue 10). A keyless record skips the last two (about 44k less).
- The target of 150,000 per publication is not met, and cannot be while the registry keeps the record's root
  and key hash readable by id (the disputes contract reads both) and the key binding: each of root and key
  hash needs a slot by id and an index slot by value, and with the commitment's own slot that is five fresh
  slots (5 × 22,100) on top of two transaction bases (2 × 21,000), about 152,500 before calldata, the
  counter and events. Going lower means dropping one of those reads on-chain, which this table does not do.
- Decided, not overlooked: the nearest layout under the target keeps only the packed owner slot by id, moves
  the manifest digest to the registration event and reads root and key hash through their index slots (callers
  pass the value, the contract checks the index names the record): three fresh slots fewer, about 169,100 −
  3 × 22,100 ≈ 102,800 for `register`, so ≈ 149,000 per publication (estimated, not built). The price is a
  registry whose records cannot be read from chain state by id: a buyer's `fetch` on a fresh machine would have
  to find the record's event with `eth_getLogs` from the deployment block (hosted JSON-RPC providers limit the
  block range per call), and a manifest CID only an event attests. We keep readable records and pay
  about 66,000 gas more per publication.
- `openDispute` reads both records and the key hash's owner from the registry and stores the commitment to the
  evidence (the full report's SHA-256 and the public summary's CID) and the suspect's owner at opening;
  `revealKey` stores the key CID, the 32-byte data key that opens the record's anchored sealed key and the
  full report's CID (all emitted too); per-vote report CIDs live only in `VoteCast` events, which keeps
  `vote` cheap.
- `finalise` counts both sides (a quorum of votes cast and a strict majority, else undecided) and includes
  sending the bond to its beneficiary with a plain `call` after the dispute is marked resolved; a recipient
  that refuses ether is credited for `withdraw` instead, so a resolution never blocks.
- Calldata costs 4 gas per zero byte and 16 per non-zero byte; the benchmark picks roots without zero bytes
  so the two registrations differ only in what the contract does.
"""


def markdown(gas: dict[str, int], compiler: dict[str, Any]) -> str:
    """The committed table, with the command that regenerates it."""
    optimizer = compiler["settings"]["optimizer"]
    return (
        "# Gas per transaction\n\n"
        f"Regenerate with `{COMMAND}` (or `make bench-gas`); this file is written by that command.\n\n"
        "Measured on the in-process EVM (eth-tester / py-evm, `shanghai` rules) with the committed artifacts\n"
        f"(solc {compiler['version'].split('+')[0]}, optimizer "
        f"{'on' if optimizer['enabled'] else 'off'}, {optimizer['runs']} runs). "
        "Gas is deterministic for fixed inputs: one run is the result.\n\n"
        f"{render(gas)}\n\n{NOTES}"
    )


def main(argv: list[str] | None = None, out: Callable[[str], Any] = print) -> int:
    args = build_parser().parse_args(argv)
    gas = measure()
    constant = gas["register (2 artifacts)"] == gas["register (50 artifacts)"]
    out(render(gas))
    within = gas[PUBLICATION] <= PUBLICATION_BUDGET
    out(f"\nregister gas constant in artifact count: {'yes' if constant else 'NO'}")
    out(
        f"publication {gas[PUBLICATION]:,} gas: {'within' if within else 'ABOVE'} the {PUBLICATION_BUDGET:,} budget"
    )
    if args.json:
        artifact = abi.load_artifact("ModelRegistry")
        result = {
            "chain": "eth-tester (py-evm), shanghai",
            "compiler": artifact["compiler"],
            "gas": gas,
            "register_constant_in_artifact_count": constant,
            "reference_before_issue_10": REFERENCE,
            "publication_budget": PUBLICATION_BUDGET,
            "publication_within_budget": within,
            "command": COMMAND,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        args.json.with_suffix(".md").write_text(markdown(gas, artifact["compiler"]))
    return 0 if constant and within else 1


if __name__ == "__main__":
    sys.exit(main())
