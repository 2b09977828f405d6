"""Watermark evidence for disputes: run the ownership test on a suspect model and pin the report to IPFS.

Both sides use the same function. The claimant runs it before opening a dispute (its report's CID becomes the
dispute's evidence); each arbiter runs it again, independently, from the revealed key and the suspect model,
and votes with the CID of its own report. The report carries the chain and IPFS facts that tie it to the
dispute, so a reader can check every claim in it.

The watermark key is bound to the claimant's record by ``keccak256(key CID)``, where the key CID is the CIDv1
(raw leaves) of the plaintext key file (see ``IModelRegistry``): it is checked here before any model is run.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

from registry import chain as chainlib
from registry import fetching, watermarking
from registry.backends import Backends
from registry.errors import LedgermarkError
from registry.publishing import key_cid, key_hash
from verifier import manifest as manifestlib
from verifier import stats, watermark

KEY_CAT_LIMIT = 256 << 20


@dataclasses.dataclass(frozen=True)
class Evidence:
    """One evidence report, written locally and pinned: the JSON's CID is what goes on-chain."""

    result: stats.OwnershipResult
    report_cid: str
    html_cid: str
    json_path: Path
    html_path: Path
    suspect_sha256: str


def check_key_matches(record: chainlib.Record, key_bytes: bytes) -> None:
    if not any(record.watermark_key_hash):
        raise LedgermarkError(
            f"record {record.record_id} anchors no watermark key: it cannot claim ownership"
        )
    if key_hash(key_bytes) != record.watermark_key_hash:
        raise LedgermarkError(
            f"this watermark key is not the one record {record.record_id} anchored "
            f"(its hash is 0x{key_hash(key_bytes).hex()}, the record holds 0x{record.watermark_key_hash.hex()})"
        )


def suspect_root_of(model_path: Path, cid_version: int = 0) -> bytes:
    """The Merkle root naming an unregistered suspect: a one-artifact manifest of the model file."""
    entry = manifestlib.entry_for_file(model_path, role="model", cid_version=cid_version)
    return manifestlib.Manifest.create(model_path.name, [entry]).root()


def gather(
    backends: Backends,
    *,
    claimant: chainlib.Record,
    key_bytes: bytes,
    suspect_model: Path,
    out_dir: Path,
    suspect_label: str,
    alpha: float = 0.01,
    extra_facts: dict[str, str] | None = None,
) -> Evidence:
    """Extract the claimant's watermark from the suspect model, test it, write and pin the report."""
    check_key_matches(claimant, key_bytes)
    key = watermark.WatermarkKey.from_bytes(key_bytes)
    assessment = watermarking.assess(suspect_model, key, alpha)
    facts = {
        "chain id": str(backends.chain.chain_id),
        "registry": backends.registry.address,
        "claimant record": str(claimant.record_id),
        "claimant root": "0x" + claimant.root.hex(),
        "claimant owner": claimant.owner,
        "claimant registered at block": str(claimant.registered_block),
        "watermark key CID": key_cid(key_bytes),
        "suspect": suspect_label,
        "suspect model file": suspect_model.name,
        **(extra_facts or {}),
    }
    json_path, html_path = watermarking.write_report(assessment, key, out_dir, facts)
    return Evidence(
        result=assessment.result,
        report_cid=backends.store.add_file(json_path, cid_version=1),
        html_cid=backends.store.add_file(html_path, cid_version=1),
        json_path=json_path,
        html_path=html_path,
        suspect_sha256=assessment.model_sha256,
    )


def revealed_key(backends: Backends, dispute: chainlib.Dispute) -> bytes:
    """The plaintext key a claimant revealed, fetched from IPFS and proven against the CID on-chain."""
    if not dispute.key_revealed:
        raise LedgermarkError(
            f"dispute {dispute.dispute_id}: the claimant has not revealed the watermark key yet"
        )
    return backends.store.cat(dispute.key_cid, max_size=KEY_CAT_LIMIT)


def suspect_model_for(
    backends: Backends, dispute: chainlib.Dispute, given: Path | None, workdir: Path
) -> Path:
    """The suspect's model file: fetched (and verified) through the registry when the suspect is registered,
    else the file the arbiter was given, which must hash to the disputed root."""
    if dispute.suspect_record:
        result = fetching.fetch(backends, str(dispute.suspect_record), workdir)
        models = [workdir / e.path for e in result.manifest.entries if e.role == "model"]
        if len(models) != 1:
            raise LedgermarkError(
                f"record {dispute.suspect_record} has {len(models)} artifacts with role 'model'; pass --model"
            )
        return models[0]
    if given is None:
        raise LedgermarkError(
            f"dispute {dispute.dispute_id}: the suspect (root 0x{dispute.suspect_root.hex()}) is not registered; "
            "pass the suspect model file with --model"
        )
    for version in (0, 1):
        if suspect_root_of(given, version) == dispute.suspect_root:
            return given
    raise LedgermarkError(
        f"{given} is not the disputed model: its root is not 0x{dispute.suspect_root.hex()}"
    )


def scratch_dir(parent: Path | None = None) -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="ledgermark-dispute-", dir=parent)
