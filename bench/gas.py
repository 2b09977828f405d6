"""Gas of every Ledgermark transaction, measured on the in-process EVM (py-evm, shanghai rules).

Informs: whether anchoring stays cheap as a publication grows, and what a publication costs. The registry keeps
constant-size state per record (never the artifact list), so `register` must cost the same for 2 and 50 artifacts;
this script fails (exit 1) when it does not, or when a publication (commit + register, with a watermark-key
hash) costs more than ``PUBLICATION_BUDGET``. The table shows the numbers before issue 10 beside today's.

    python bench/gas.py --json docs/results/gas.json   # also writes docs/results/gas.md

Gas is deterministic for fixed inputs, so one run suffices. Calldata costs 4 gas per zero byte and 16 per
non-zero byte; the roots compared are chosen without zero bytes so the two registrations differ only in what
the contract stores. Registrations are measured after a warm-up record, whose own cost is a row of the table.
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
FIRST_PUBLICATION = "publication, first of a deployment"
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

    def register(artifacts: int, seed: int, keyed: bool = True) -> tuple[int, int, int]:
        """A registration; a keyed one anchors its own key hash (one record per key hash)."""
        root = manifest_root(artifacts, seed)
        key_hash = chainlib.watermark_key_hash(f"{KEY_CID}?seed={seed}") if keyed else chainlib.ZERO_HASH
        commit = registry.commit(registry.compute_commitment(root, key_hash, SALT))
        chain.mine(1)
        record_id, reveal = registry.register(root, artifacts, MANIFEST_CID, key_hash, salt=SALT)
        return record_id, commit.gas_used, reveal.gas_used

    _, first_commit, first_register = register(3, seed=1000)
    _, gas["commit"], gas["register (2 artifacts)"] = register(2, seed=0)
    _, _, gas["register (50 artifacts)"] = register(50, seed=2000)
    gas[PUBLICATION] = gas["commit"] + gas["register (2 artifacts)"]
    gas[FIRST_PUBLICATION] = first_commit + first_register
    _, _, gas["register (no watermark key)"] = register(2, seed=6000, keyed=False)
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
- `register` costs the same for 2 and 50 artifacts: a record never stores the artifact list (the script exits 1
  if the two differ). Registrations are measured with a watermark-key hash, after a warm-up record; the first
  record of a deployment costs the same (its row), as the constructor starts the id counter at 1.
- Publishing is `commit` + `register` in two transactions, at least `minCommitAge` blocks apart. `commit`
  writes one fresh slot under (committer, commitment); `register` deletes it (a 4,800 refund) and writes three:
  the record's slot by id (owner, registration block, commitment age, derivation, revoked, keyed: what the
  contracts read), the root index (record id, parent, leaf count, registration time) and the key-hash index
  that makes the first registration own its key (issue 10; a keyless record skips it).
- How the target is met without losing a field: the record's hashes (root, manifest CID digest and tag, key
  hash) are written once, in the `ModelRegistered` event, instead of three more slots by id (3 × 22,100 gas).
  The slot by id names the event's block, so a reader fetches it with one `eth_getLogs` over that single block
  (no range scan, which hosted nodes limit), and believes it only after chain state agrees: the root index must
  name this record for the event's root, and the key index for its key hash (`RecordMismatchError` otherwise,
  tested with a node that forges or drops the event). The manifest CID is attested by the event alone, like
  every answer of the node the reader trusts; the manifest it names must still hash to the indexed root.
- What it costs: contracts cannot read a record's root or key hash by id, so `verifyArtifact` takes the root
  from the caller (and checks it against the root index), `openDispute` looks the suspect up by root and checks
  the claimant's `keyed` flag, and `revealKey` checks that the key index names the claimant record; `parentOf`
  is gone (lineage is read from the event). A node that has expired old logs cannot serve records at all.
  The optimizer now runs for 10,000 calls instead of 200 (cheaper calls, larger deployment): 316 gas less per
  publication; `CommitmentRecorded` no longer repeats its block number: 312 less (this script, run before and
  after each change).
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
    within = max(gas[PUBLICATION], gas[FIRST_PUBLICATION]) <= PUBLICATION_BUDGET
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
