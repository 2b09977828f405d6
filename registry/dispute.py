"""FLOW 3, the ownership dispute: evidence → open (with the bond) → reveal the key → arbiters review and vote →
finalise after the deadline.

The claimant runs ``claim``: the watermark test on the suspect model (``gather_evidence``), the full report kept
private (owner-only files, one copy in the data directory), and the dispute opened with a commitment only: the
report's SHA-256 on-chain and a public summary (verdict, p-values, WSR; no key bits, trigger labels, images or
key CID) pinned to IPFS. Eligibility is dry-run (``eth_call``) before anything is pinned. At ``reveal`` the full
report is pinned and its CID recorded on-chain. Each arbiter runs ``review``: the claimant's revealed report is
checked against the commitment, then the same test runs independently from the revealed key and the suspect
model, and the arbiter votes with the CID of its own report. Anyone may ``finalise``.
Chain steps take the signer's ``OwnershipDisputesClient``, so who acts is explicit; each checks locally what the
contract would reject for a predictable reason (wrong key, deadline not reached), so a caller gets the same
named error without paying for a failing transaction. The watermark engine (torch) is imported only by the
steps that run a model.

The watermark key is bound to the claimant's record by ``keccak256(key CID)``, where the key CID is the CIDv1
(raw leaves) of the plaintext key file (see ``IModelRegistry``): it is checked before any model is run.

The plaintext key is never published, not even at the reveal. The record's manifest anchors the key sealed with
AES-256-GCM (artifact role ``watermark-key``); the claimant reveals the key CID (a hash, computed locally) and the
sealed copy's 32-byte data key. Anyone then fetches the anchored ciphertext through the verified path (manifest
against the root, bytes against the CID and SHA-256, Merkle proof accepted by the contract), opens it with the
revealed data key, and checks the plaintext's hash against the record (``unseal_revealed_key``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ipfs import unixfs
from registry import chain as chainlib
from registry import files
from registry.backends import Backends
from registry.errors import IntegrityError, LedgermarkError
from registry.fetch import fetch, read_artifact, resolve_record
from registry.publish import key_cid, key_hash
from verifier.integrity import documents, sealing
from verifier.integrity import manifest as manifestlib

DATA_KEY_SIZE = 32
KEY_CAT_LIMIT = 256 << 20
REPORT_LIMIT = 16 << 20  # a full evidence report (bits and attributions, no images) is far smaller
REPORT_FORMAT = "ledgermark-evidence"  # verifier.watermark.report.FORMAT (not imported: it needs numpy)
SUMMARY_FORMAT = "ledgermark-evidence-commitment"
SUMMARY_NAME = "commitment.json"
SUMMARY_FIELDS = ("verdict", "is_copy", "wsr", "p_value", "chi2_p_value", "alpha", "model_sha256")
PUBLIC_FACTS = ("chain id", "registry", "claimant record", "claimant root", "suspect")
PRIVATE_REPORTS = "disputes"  # folder of the data directory holding the claimant's unrevealed full reports

if TYPE_CHECKING:
    from verifier.watermark import stats


class RevealedKeyError(IntegrityError):
    """The revealed data key does not open the claimant record's anchored sealed key, or opens one whose
    plaintext is not the key the record anchors: the reveal cannot be trusted (exit 1, HTTP 409)."""


@dataclasses.dataclass(frozen=True)
class DisputeReport:
    """Everything known about one dispute, for display: the stored state plus every vote's report.

    ``key_check`` says whether the revealed data key opens the anchored sealed key to the plaintext the record
    anchors, ``report_check`` whether the revealed report is the one committed to at opening (None when not
    checked, or not revealed yet).
    """

    dispute: chainlib.Dispute
    votes: list[chainlib.Vote]
    quorum: int
    arbiter_count: int
    key_check: str | None = None
    report_check: str | None = None

    @property
    def resolved(self) -> bool:
        return self.dispute.status not in (chainlib.DisputeStatus.NONE, chainlib.DisputeStatus.OPEN)


@dataclasses.dataclass(frozen=True)
class Resolution:
    dispute_id: int
    outcome: chainlib.DisputeStatus
    recipient: str
    bond_wei: int
    tx: chainlib.TxResult


def open_dispute(
    disputes: chainlib.OwnershipDisputesClient,
    claimant_record: int,
    suspect: int | bytes,
    evidence_hash: bytes,
    evidence_cid: str,
) -> tuple[chainlib.Dispute, chainlib.TxResult]:
    """Open a dispute of ``claimant_record`` against ``suspect`` (record id or any model's Merkle root),
    committing to the full report by ``evidence_hash`` (SHA-256) with the public summary ``evidence_cid``."""
    dispute_id, tx = disputes.open_dispute(claimant_record, suspect, evidence_hash, evidence_cid)
    return disputes.dispute(dispute_id), tx


def reveal_key(
    disputes: chainlib.OwnershipDisputesClient,
    dispute_id: int,
    key_cid: str,
    data_key: bytes,
    report_cid: str,
) -> chainlib.TxResult:
    """Reveal the key CID and the sealed copy's data key, after checking what the contract checks locally
    (so a mismatch costs no transaction). ``reveal`` also proves the data key opens the anchored copy."""
    check_data_key(data_key, f"dispute {dispute_id}")
    dispute = disputes.dispute(dispute_id)
    registry = chainlib.ModelRegistryClient(disputes.chain, disputes.registry_address())
    expected = registry.record(dispute.claimant_record).watermark_key_hash
    actual = chainlib.watermark_key_hash(key_cid)
    if actual != expected:
        raise chainlib.ContractRevertError(
            "OwnershipDisputesKeyHashMismatch",
            {"disputeId": dispute_id, "expected": expected, "actual": actual},
            "keccak256 of this key CID is not the watermark-key hash the claimant record committed to",
        )
    return disputes.reveal_key(dispute_id, key_cid, data_key, report_cid)


def reveal(
    backends: Backends,
    dispute_id: int,
    key_bytes: bytes,
    data_key: bytes,
    *,
    report: Path | None = None,
    disputes: chainlib.OwnershipDisputesClient | None = None,
) -> tuple[str, chainlib.TxResult]:
    """The claimant's reveal: prove locally that ``data_key`` opens the record's anchored sealed key to exactly
    ``key_bytes`` and that the full report hashes to the commitment, dry-run the transaction, then pin the report
    and reveal the key CID (computed here; the key is never uploaded), the data key and the report's CID.

    Any mismatch raises before anything is uploaded or sent. ``report`` is the full evidence JSON (default: the
    private copy ``claim`` kept in the data directory). ``disputes`` is the signer (default: the backends').
    Returns the key CID and the transaction.
    """
    signer = disputes or backends.disputes
    dispute = signer.dispute(dispute_id)
    record = backends.registry.record(dispute.claimant_record)
    check_key_matches(record, key_bytes)
    # the unsealed plaintext hashes to the record's key hash, as key_bytes does: they are the same key
    unseal_record_key(backends, record, data_key, context=f"dispute {dispute_id}")
    report_bytes = committed_report(backends, dispute, report)
    cid = key_cid(key_bytes)
    report_cid = unixfs.import_stream(io.BytesIO(report_bytes), cid_version=1)
    signer.check_reveal(dispute_id, cid, data_key, report_cid)  # a refused reveal uploads nothing
    pinned = backends.store.add_bytes(report_bytes, cid_version=1)
    if pinned != report_cid:
        raise IntegrityError(f"the store pinned the report as {pinned}, but its CID is {report_cid}")
    return cid, signer.reveal_key(dispute_id, cid, data_key, report_cid)


def committed_report(backends: Backends, dispute: chainlib.Dispute, report: Path | None) -> bytes:
    """The full report the dispute committed to: ``report`` or the private copy, checked against the SHA-256."""
    path = report or private_report_path(backends, dispute.evidence_hash)
    source = f"--report {path}" if report else f"the private copy of the evidence report ({path})"
    try:
        data = path.read_bytes()
    except OSError as err:
        raise LedgermarkError(
            f"{source} cannot be read ({err.strerror}); pass the evidence.json `dispute open` wrote with --report"
        ) from err
    if hashlib.sha256(data).digest() != dispute.evidence_hash:
        raise LedgermarkError(
            f"{source} is not the report dispute {dispute.dispute_id} committed to (its SHA-256 is "
            f"{hashlib.sha256(data).hexdigest()}, the commitment 0x{dispute.evidence_hash.hex()})"
        )
    return data


def vote(
    disputes: chainlib.OwnershipDisputesClient, dispute_id: int, uphold: bool, report_cid: str
) -> chainlib.TxResult:
    """Cast the signing arbiter's vote with the CID of its evidence report."""
    return disputes.vote(dispute_id, uphold, report_cid)


def pinned_report_cid(backends: Backends, report: str) -> str:
    """The CID a vote cites: ``report`` itself, or the CID of a local report file that the store holds.

    A vote must cite a report anyone can fetch, so a file that was never pinned is refused before the vote.
    """
    path = Path(report)
    if not path.is_file():
        return report
    cid = unixfs.compute_cid(path, cid_version=1)  # gather_evidence pins reports as CIDv1
    if not backends.store.has(cid):
        raise LedgermarkError(
            f"--report {report}: its CID {cid} is not pinned in {backends.store.describe()}; "
            "`ledgermark dispute review` pins the report it writes"
        )
    return cid


def finalise(
    disputes: chainlib.OwnershipDisputesClient, dispute_id: int, *, skip_wait_on_dev_chain: bool = False
) -> Resolution:
    """Resolve the dispute once its deadline has passed.

    With ``skip_wait_on_dev_chain`` a dev chain's clock is advanced past the deadline first (demos, tests);
    otherwise an early call raises ``DisputeStateError`` (``OwnershipDisputesVotingOpen``) without a transaction.
    """
    dispute = disputes.dispute(dispute_id)
    now = disputes.chain.latest_timestamp()
    if dispute.status is chainlib.DisputeStatus.OPEN and now <= dispute.deadline:
        if skip_wait_on_dev_chain and disputes.chain.is_dev_chain:
            disputes.chain.time_travel(dispute.deadline - now + 1)
        else:
            raise chainlib.DisputeStateError(
                "OwnershipDisputesVotingOpen",
                {"disputeId": dispute_id, "deadline": dispute.deadline},
                f"voting is open for another {dispute.deadline - now + 1} s",
            )
    outcome, tx = disputes.finalise(dispute_id)
    resolved = tx.event("DisputeResolved")
    return Resolution(dispute_id, outcome, resolved["recipient"], int(resolved["bond"]), tx)


def report(
    disputes: chainlib.OwnershipDisputesClient, dispute_id: int, backends: Backends | None = None
) -> DisputeReport:
    """The dispute's state, its votes with report CIDs, and the M-of-N parameters; with ``backends``, also
    whether the revealed data key opens the anchored sealed key to the anchored plaintext (``key_check``) and
    whether the revealed report matches the commitment (``report_check``)."""
    dispute = disputes.dispute(dispute_id)
    checked = backends is not None and dispute.key_revealed
    return DisputeReport(
        dispute=dispute,
        votes=disputes.votes(dispute_id),
        quorum=disputes.quorum(),
        arbiter_count=disputes.arbiter_count(),
        key_check=check_revealed_key(backends, dispute) if checked and backends else None,
        report_check=check_revealed_report(backends, dispute) if checked and backends else None,
    )


def check_revealed_report(backends: Backends, dispute: chainlib.Dispute) -> str:
    """A one-line verdict on the revealed report against the commitment, for display (never raises)."""
    try:
        claimed = revealed_report(backends, dispute)
    except IntegrityError as err:
        return f"FAILED: {err}"
    except LedgermarkError as err:  # e.g. the report is not reachable from this store
        return f"not checked: {err}"
    return (
        f"ok: the revealed report {dispute.report_cid} is the one committed to at opening (SHA-256 "
        f"{dispute.evidence_hash.hex()}); it says {claimed.get('verdict')!s}"
    )


def check_revealed_key(backends: Backends, dispute: chainlib.Dispute) -> str:
    """A one-line verdict on the reveal, for display: "ok: …", "FAILED: …" or "not checked: …" (never raises:
    ``show`` must still display a dispute whose reveal is bad)."""
    try:
        plaintext = unseal_revealed_key(backends, dispute)
    except IntegrityError as err:
        return f"FAILED: {err}"
    except LedgermarkError as err:  # e.g. the sealed copy is not reachable from this store
        return f"not checked: {err}"
    return (
        f"ok: the revealed data key opens record {dispute.claimant_record}'s anchored sealed key, and the "
        f"plaintext ({len(plaintext)} bytes, CID {key_cid(plaintext)}) is the key the record anchors"
    )


def run_dispute(
    claimant: chainlib.OwnershipDisputesClient,
    claimant_record: int,
    suspect: int | bytes,
    evidence_cid: str,
    key_cid: str,
    rulings: Sequence[tuple[chainlib.OwnershipDisputesClient, bool, str]],
    *,
    data_key: bytes,
    evidence_hash: bytes,
    report_cid: str,
    skip_wait_on_dev_chain: bool = True,
) -> tuple[Resolution, DisputeReport]:
    """The whole on-chain flow in one call: open (commitment), reveal (key CID, data key, report CID), one vote
    per ``(arbiter client, uphold, report CID)``, finalise. No store: neither the sealed copy nor the report is
    checked here."""
    dispute, _ = open_dispute(claimant, claimant_record, suspect, evidence_hash, evidence_cid)
    reveal_key(claimant, dispute.dispute_id, key_cid, data_key, report_cid)
    for arbiter, uphold, ruling_cid in rulings:
        vote(arbiter, dispute.dispute_id, uphold, ruling_cid)
    resolution = finalise(claimant, dispute.dispute_id, skip_wait_on_dev_chain=skip_wait_on_dev_chain)
    return resolution, report(claimant, dispute.dispute_id)


# --------------------------------------------------------------------------- the sealed key


def check_data_key(data_key: bytes, where: str) -> None:
    """A data key is 32 non-zero bytes (the contract refuses zero: it marks "not revealed")."""
    if len(data_key) != DATA_KEY_SIZE:
        raise LedgermarkError(f"{where}: a data key is {DATA_KEY_SIZE} bytes, this one has {len(data_key)}")
    if not any(data_key):
        raise LedgermarkError(f"{where}: the data key is all zeros, which no sealed key uses")


def parse_data_key(text: bytes, source: str) -> bytes:
    """A data key file as ``publish --watermark-key`` writes it: 64 hex digits (whitespace ignored)."""
    try:
        data_key = bytes.fromhex(text.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        data_key = b""
    if len(data_key) != DATA_KEY_SIZE:
        raise LedgermarkError(f"{source} does not hold a data key (expected {2 * DATA_KEY_SIZE} hex digits)")
    return data_key


def unseal_record_key(backends: Backends, record: chainlib.Record, data_key: bytes, *, context: str) -> bytes:
    """Open the record's anchored sealed key with ``data_key`` and prove the plaintext is the anchored key."""
    check_data_key(data_key, context)
    sealed = read_artifact(backends, record, "watermark-key", max_size=KEY_CAT_LIMIT)
    try:
        plaintext = sealing.unseal(sealed, data_key)
    except sealing.SealedKeyTampered as err:
        raise RevealedKeyError(
            f"{context}: the data key does not open record {record.record_id}'s anchored sealed watermark key "
            f"({err})"
        ) from err
    if key_hash(plaintext) != record.watermark_key_hash:
        raise RevealedKeyError(
            f"{context}: record {record.record_id}'s sealed key opens, but its plaintext hashes to "
            f"0x{key_hash(plaintext).hex()}, not to the anchored 0x{record.watermark_key_hash.hex()}"
        )
    return plaintext


def unseal_revealed_key(backends: Backends, dispute: chainlib.Dispute) -> bytes:
    """The plaintext key, opened from the claimant record's anchored sealed copy with the data key revealed
    on-chain and checked against the record's hash, before any model runs."""
    if not dispute.key_revealed:
        raise LedgermarkError(
            f"dispute {dispute.dispute_id}: the claimant has not revealed the watermark key yet"
        )
    record = backends.registry.record(dispute.claimant_record)
    return unseal_record_key(backends, record, dispute.data_key, context=f"dispute {dispute.dispute_id}")


# --------------------------------------------------------------------------- evidence


@dataclasses.dataclass(frozen=True)
class Evidence:
    """One evidence report, written locally (owner-only: it holds the key's bits) and pinned only when its
    secrets may be public (an arbiter's review, after the reveal): ``report_cid`` is None until then."""

    result: stats.OwnershipResult
    json_path: Path
    html_path: Path
    suspect_sha256: str
    report_sha256: bytes
    report_cid: str | None = None


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


def suspect_root_of(model_path: Path, profile: str | None = None) -> bytes:
    """The Merkle root naming an unregistered suspect: a one-artifact manifest of the model file."""
    return suspect_roots(model_path)[unixfs.resolve_profile(profile).name]


def suspect_roots(model_path: Path) -> dict[str, bytes]:
    """The suspect's root under every import profile, from one read of the file: whoever published the copy
    chose the profile, and the registry knows the copy by that root only."""
    importers = {name: unixfs.Importer(profile=profile) for name, profile in unixfs.PROFILES.items()}
    sha256, size = hashlib.sha256(), 0
    with open(model_path, "rb") as stream:
        while chunk := stream.read(unixfs.MAX_CHUNK_SIZE):
            sha256.update(chunk)
            size += len(chunk)
            for importer in importers.values():
                importer.update(chunk)
    roots = {}
    for name, importer in importers.items():
        entry = manifestlib.ManifestEntry(
            role="model", path=model_path.name, size=size, sha256=sha256.hexdigest(), cid=importer.finish()
        )
        roots[name] = manifestlib.Manifest.create(model_path.name, [entry]).root()
    return roots


def gather_evidence(
    backends: Backends,
    *,
    claimant: chainlib.Record,
    key_bytes: bytes,
    suspect_model: Path,
    out_dir: Path,
    suspect_label: str,
    alpha: float = 0.01,
    extra_facts: dict[str, str] | None = None,
    pin: bool = True,
) -> Evidence:
    """Extract the claimant's watermark from the suspect model, test it, write the report and, with ``pin``,
    pin its JSON (the claimant does not: before the reveal only a commitment may leave the machine)."""
    from registry import watermarking
    from verifier.watermark import keys

    check_key_matches(claimant, key_bytes)
    key = keys.WatermarkKey.from_bytes(key_bytes)
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
    report = json_path.read_bytes()
    return Evidence(
        result=assessment.result,
        json_path=json_path,
        html_path=html_path,
        suspect_sha256=assessment.model_sha256,
        report_sha256=hashlib.sha256(report).digest(),
        report_cid=backends.store.add_bytes(report, cid_version=1) if pin else None,
    )


def commitment_summary(report: bytes) -> bytes:
    """The public summary pinned at opening: the full report's SHA-256 plus its verdict, p-values and WSR, and
    the chain facts anyone can read anyway. Nothing that names or describes the key leaves the machine."""
    full = json.loads(report)
    facts = full.get("facts", {})
    summary = {
        "format": SUMMARY_FORMAT,
        "version": 1,
        "report_sha256": hashlib.sha256(report).hexdigest(),
        **{name: full[name] for name in SUMMARY_FIELDS},
        "facts": {name: facts[name] for name in PUBLIC_FACTS if name in facts},
    }
    return (json.dumps(summary, indent=2, sort_keys=True, allow_nan=False) + "\n").encode()


def private_report_path(backends: Backends, evidence_hash: bytes) -> Path:
    """Where ``claim`` keeps the full report until the reveal, named by its SHA-256."""
    return backends.settings.data_dir / PRIVATE_REPORTS / f"evidence-{evidence_hash.hex()}.json"


def keep_private_report(backends: Backends, report: bytes) -> Path:
    """An owner-only copy of the full report in the data directory (atomic), so `reveal` finds it by hash."""
    path = private_report_path(backends, hashlib.sha256(report).digest())
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    return files.write_private(path, report)


def suspect_model_for(
    backends: Backends, dispute: chainlib.Dispute, given: Path | None, workdir: Path
) -> Path:
    """The suspect's model file: fetched (and verified) through the registry when the suspect is registered,
    else the file the arbiter was given, which must hash to the disputed root."""
    if dispute.suspect_record:
        result = fetch(backends, str(dispute.suspect_record), workdir)
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
    if dispute.suspect_root in suspect_roots(given).values():
        return given
    raise LedgermarkError(
        f"{given} is not the disputed model: its root is not 0x{dispute.suspect_root.hex()}"
    )


# --------------------------------------------------------------------------- claimant and arbiter, end to end


@dataclasses.dataclass(frozen=True)
class Claim:
    """A dispute the claimant opened, with the (private) evidence it commits to and the public summary's CID."""

    dispute: chainlib.Dispute
    evidence: Evidence
    tx: chainlib.TxResult
    summary_cid: str


def claim(
    backends: Backends,
    claimant_reference: str,
    suspect_model: Path,
    key_bytes: bytes,
    *,
    report_dir: Path,
    suspect: str | None = None,
    force: bool = False,
) -> Claim:
    """Test the suspect for the claimant's watermark and open a dispute with the bond, committing to the report.

    ``suspect`` names a registered record (id or root); by default the model file's own root is used, and
    mapped to its record when that model is registered. Refuses (nothing opened or pinned, no bond) when the
    contract would refuse (dry-run first), or unless the test says "copy" or ``force`` is set. Only the public
    summary is pinned; the full report stays in ``report_dir`` and the data directory until ``reveal``.
    """
    record = resolve_record(backends, claimant_reference)
    check_key_matches(record, key_bytes)
    suspect_ref = suspect_reference(backends, suspect, suspect_model)
    backends.disputes.check_open(
        record.record_id, suspect_ref, b"\x01" * 32, "pending"
    )  # before the model runs
    evidence = gather_evidence(
        backends,
        claimant=record,
        key_bytes=key_bytes,
        suspect_model=suspect_model,
        out_dir=report_dir,
        suspect_label=describe_suspect(suspect_ref),
        pin=False,
    )
    if not evidence.result.is_copy and not force:
        raise LedgermarkError(
            f"the test does not support a claim ({evidence.result.verdict}); no dispute opened "
            f"(report in {evidence.html_path}; --force opens one anyway)"
        )
    return Claim(*_commit_and_open(backends, record.record_id, suspect_ref, evidence, report_dir))


def _commit_and_open(
    backends: Backends, record_id: int, suspect_ref: int | bytes, evidence: Evidence, report_dir: Path
) -> tuple[chainlib.Dispute, Evidence, chainlib.TxResult, str]:
    """Dry-run the open with the real commitment, then keep the private copy, pin the summary and open."""
    report = evidence.json_path.read_bytes()
    summary = commitment_summary(report)
    summary_cid = unixfs.import_stream(io.BytesIO(summary), cid_version=1)
    backends.disputes.check_open(record_id, suspect_ref, evidence.report_sha256, summary_cid)
    keep_private_report(backends, report)
    (report_dir / SUMMARY_NAME).write_bytes(summary)
    pinned = backends.store.add_bytes(summary, cid_version=1)
    dispute, tx = open_dispute(backends.disputes, record_id, suspect_ref, evidence.report_sha256, pinned)
    return dispute, evidence, tx, pinned


def review(backends: Backends, dispute_id: int, *, report_dir: Path, model: Path | None = None) -> Evidence:
    """An arbiter's own test: unseal the anchored key with the revealed data key (checked against the record),
    check the claimant's revealed report against the commitment, fetch the suspect (verified), re-run the test,
    pin the report."""
    with tempfile.TemporaryDirectory(prefix="ledgermark-dispute-") as scratch:
        dispute = backends.disputes.dispute(dispute_id)
        key_bytes = unseal_revealed_key(backends, dispute)
        claimed = revealed_report(backends, dispute)
        suspect_model = suspect_model_for(backends, dispute, model, Path(scratch))
        return gather_evidence(
            backends,
            claimant=backends.registry.record(dispute.claimant_record),
            key_bytes=key_bytes,
            suspect_model=suspect_model,
            out_dir=report_dir,
            suspect_label=describe_suspect(dispute.suspect_record or dispute.suspect_root),
            extra_facts={
                "dispute": str(dispute_id),
                "reviewed by": backends.signer_address() or "a reviewer without a signing key",
                "claimant report": f"{dispute.report_cid} (SHA-256 matches the commitment made at opening)",
                "claimant verdict": str(claimed.get("verdict")),
                "claimant tested the same file": (
                    "yes" if claimed.get("model_sha256") == watermarking_sha256(suspect_model) else "no"
                ),
            },
        )


def revealed_report(backends: Backends, dispute: chainlib.Dispute) -> dict[str, object]:
    """The claimant's full report, fetched by the CID revealed on-chain (bounded) and accepted only if its
    SHA-256 is the commitment made at opening: a report swapped after the fact is an ``IntegrityError``."""
    if not dispute.report_cid:
        raise LedgermarkError(
            f"dispute {dispute.dispute_id}: the claimant has not revealed the evidence report yet"
        )
    data = backends.store.cat(dispute.report_cid, max_size=REPORT_LIMIT)
    if hashlib.sha256(data).digest() != dispute.evidence_hash:
        raise IntegrityError(
            f"dispute {dispute.dispute_id}: the revealed report {dispute.report_cid} hashes to "
            f"{hashlib.sha256(data).hexdigest()}, not to the commitment 0x{dispute.evidence_hash.hex()}"
        )
    return parse_report(data, f"dispute {dispute.dispute_id}'s revealed report {dispute.report_cid}")


def parse_report(data: bytes, source: str) -> dict[str, object]:
    """A claimant's report is another party's document: bounded, strict, and an object of the evidence format."""
    try:
        document = documents.parse_json(data, source=source, max_bytes=REPORT_LIMIT)
    except documents.DocumentError as err:
        raise IntegrityError(str(err)) from err
    if not isinstance(document, dict) or document.get("format") != REPORT_FORMAT:
        raise IntegrityError(f"{source} is not a {REPORT_FORMAT} document")
    return document


def watermarking_sha256(path: Path) -> str:
    from registry import watermarking

    return watermarking.sha256_file(path)


def suspect_reference(backends: Backends, suspect: str | None, model: Path) -> int | bytes:
    """A record id if the suspect is registered, else its Merkle root."""
    if suspect is None:
        roots = suspect_roots(model)
        for root in roots.values():
            if record_id := backends.registry.record_id_by_root(root):
                return record_id
        return roots[backends.settings.import_profile.name]
    if suspect.isdecimal():
        return resolve_record(backends, suspect).record_id
    try:
        root = bytes.fromhex(suspect.removeprefix("0x"))
    except ValueError:
        root = b""
    if len(root) != 32:
        raise LedgermarkError(f"--suspect {suspect!r} is neither a record id nor a 0x-prefixed 32-byte root")
    return backends.registry.record_id_by_root(root) or root


def describe_suspect(reference: int | bytes) -> str:
    return (
        f"record {reference}"
        if isinstance(reference, int)
        else f"unregistered model, root 0x{reference.hex()}"
    )
