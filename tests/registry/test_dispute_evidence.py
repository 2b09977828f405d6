"""A watermark dispute end to end on the embedded backends: evidence from real models, committed to by hash at
opening and pinned only at the reveal, the sealed key revealed by its data key (never in plaintext), unsealed by
an arbiter who checks the revealed report against the commitment, and settled on-chain."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import random
from pathlib import Path

import pytest

from ipfs import unixfs
from registry import backends as backendslib
from registry import chain as chainlib
from registry import dispute as flow
from registry import publish as publish_flow
from registry.config import Settings
from registry.errors import IntegrityError, LedgermarkError
from tests.conftest import WatermarkFiles
from verifier.integrity import manifest as manifestlib

EVIDENCE = hashlib.sha256(b"a full evidence report").digest()


def publish_with_key(
    backends: backendslib.Backends, files: WatermarkFiles, tmp_path: Path
) -> tuple[chainlib.Record, bytes]:
    """Publish the watermarked model with its sealed key; returns the record and the owner's data key."""
    sealed = publish_flow.seal_watermark_key(files.key, tmp_path)
    publication = publish_flow.publish(
        backends,
        [publish_flow.Artifact(files.watermarked, role="model"), sealed.artifact],
        name="owner",
        watermark_key_hash=sealed.key_hash,
    )
    return backends.registry.record(publication.record_id), sealed.data_key


def as_arbiter(backends: backendslib.Backends) -> backendslib.Backends:
    """The same chain and store seen by dev account 1, granted the arbiter role: another party."""
    account = backends.chain.dev_accounts()[1]
    backends.disputes.grant_arbiter(account.address)
    chain = backends.chain.with_account(account)
    return dataclasses.replace(backends, chain=chain, disputes=backends.disputes.using(chain))


def plaintext_in_store(backends: backendslib.Backends, data_dir: Path, plaintext: bytes) -> list[str]:
    """Every trace of the plaintext key in the store: its CIDs (v0, v1) held or pinned, its bytes on disk."""
    traces = [
        cid
        for cid in (unixfs.import_stream(io.BytesIO(plaintext), cid_version=v) for v in (0, 1))
        if backends.store.has(cid) or cid in backends.store.pins()
    ]
    probe = plaintext[len(plaintext) // 2 : len(plaintext) // 2 + 64]
    traces += [str(f) for f in data_dir.rglob("*") if f.is_file() and probe in f.read_bytes()]
    return traces


def stolen_copy(files: WatermarkFiles, tmp_path: Path) -> Path:
    stolen = tmp_path / "stolen.pt"
    stolen.write_bytes(files.watermarked.read_bytes())
    return stolen


def test_sealed_key_round_trip_an_arbiter_unseals_from_ipfs_and_upholds(
    backends: backendslib.Backends,
    embedded_settings: Settings,
    watermark_files: WatermarkFiles,
    tmp_path: Path,
) -> None:
    record, data_key = publish_with_key(backends, watermark_files, tmp_path)
    plaintext = watermark_files.key.read_bytes()
    stolen = stolen_copy(watermark_files, tmp_path)

    claim = flow.claim(backends, str(record.record_id), stolen, plaintext, report_dir=tmp_path / "claim")
    assert claim.evidence.result.is_copy
    full = claim.evidence.json_path.read_bytes()
    assert json.loads(full)["facts"]["claimant record"] == str(record.record_id)
    dispute = claim.dispute
    assert dispute.evidence_hash == hashlib.sha256(full).digest() and dispute.report_cid == ""
    assert dispute.suspect_root == flow.suspect_root_of(stolen)

    key_cid, tx = flow.reveal(backends, dispute.dispute_id, plaintext, data_key)
    assert key_cid == publish_flow.key_cid(plaintext)
    revealed = backends.disputes.dispute(dispute.dispute_id)
    assert revealed.key_revealed and revealed.key_cid == key_cid and revealed.data_key == data_key
    assert revealed.report_cid == tx.event("KeyRevealed")["reportCid"]
    assert backends.store.cat(revealed.report_cid, max_size=1 << 24) == full

    arbiter = as_arbiter(backends)
    assert flow.unseal_revealed_key(arbiter, revealed) == plaintext
    review = flow.review(arbiter, dispute.dispute_id, report_dir=tmp_path / "review", model=stolen)
    assert review.result.is_copy and review.result.p_value == claim.evidence.result.p_value
    facts = json.loads(review.json_path.read_text())["facts"]
    assert facts["claimant report"].startswith(f"{revealed.report_cid} (SHA-256 matches the commitment")
    assert facts["claimant tested the same file"] == "yes"
    shown = flow.report(arbiter.disputes, dispute.dispute_id, arbiter)
    assert shown.key_check is not None and shown.key_check.startswith("ok: ")
    assert shown.report_check is not None and shown.report_check.startswith(
        f"ok: the revealed report {revealed.report_cid} is the one committed to at opening"
    )
    flow.vote(arbiter.disputes, dispute.dispute_id, True, str(review.report_cid))

    resolution = flow.finalise(backends.disputes, dispute.dispute_id, skip_wait_on_dev_chain=True)
    assert resolution.outcome is chainlib.DisputeStatus.UPHELD
    assert resolution.recipient == backends.chain.address
    assert plaintext_in_store(backends, embedded_settings.data_dir, plaintext) == []


def test_a_wrong_data_key_is_refused_before_any_transaction(
    backends: backendslib.Backends, watermark_files: WatermarkFiles, tmp_path: Path
) -> None:
    record, data_key = publish_with_key(backends, watermark_files, tmp_path)
    dispute, _ = flow.open_dispute(
        backends.disputes, record.record_id, os.urandom(32), EVIDENCE, "bafyevidence"
    )
    block = backends.chain.w3.eth.block_number
    wrong = bytes([data_key[0] ^ 1]) + data_key[1:]
    with pytest.raises(
        flow.RevealedKeyError,
        match=f"dispute {dispute.dispute_id}: the data key does not open record {record.record_id}'s",
    ):
        flow.reveal(backends, dispute.dispute_id, watermark_files.key.read_bytes(), wrong)
    assert isinstance(flow.RevealedKeyError("x"), IntegrityError)
    assert backends.chain.w3.eth.block_number == block
    assert not backends.disputes.dispute(dispute.dispute_id).key_revealed


def test_a_revealed_data_key_that_opens_another_key_is_an_integrity_error(
    backends: backendslib.Backends, watermark_files: WatermarkFiles, tmp_path: Path
) -> None:
    """The contract checks only the CID: a claimant who seals one key and anchors another is caught off-chain,
    by every arbiter, before any model runs."""
    other = tmp_path / "other.wmk"
    other.write_bytes(watermark_files.key.read_bytes().replace(b'"fill":0.5', b'"fill":0.25'))
    sealed_other = publish_flow.seal_watermark_key(other, tmp_path)
    anchored = publish_flow.key_hash(watermark_files.key.read_bytes())
    publication = publish_flow.publish(
        backends,
        [publish_flow.Artifact(watermark_files.watermarked, role="model"), sealed_other.artifact],
        name="mismatched",
        watermark_key_hash=anchored,
    )
    record = backends.registry.record(publication.record_id)
    dispute, _ = flow.open_dispute(
        backends.disputes, record.record_id, os.urandom(32), EVIDENCE, "bafyevidence"
    )
    key_cid = publish_flow.key_cid(watermark_files.key.read_bytes())
    flow.reveal_key(backends.disputes, dispute.dispute_id, key_cid, sealed_other.data_key, "bafkreireport")

    revealed = backends.disputes.dispute(dispute.dispute_id)
    with pytest.raises(
        IntegrityError, match=f"dispute {dispute.dispute_id}: record {record.record_id}'s sealed"
    ):
        flow.unseal_revealed_key(backends, revealed)
    with pytest.raises(flow.RevealedKeyError):
        flow.review(backends, dispute.dispute_id, report_dir=tmp_path / "review", model=tmp_path / "none.pt")
    assert not (tmp_path / "review").exists()
    shown = flow.report(backends.disputes, dispute.dispute_id, backends)
    assert shown.key_check is not None and shown.key_check.startswith("FAILED: ")
    assert shown.report_check is not None and shown.report_check.startswith("not checked: ")


def test_an_innocent_model_gives_evidence_of_no_copy(
    backends: backendslib.Backends, watermark_files: WatermarkFiles, tmp_path: Path
) -> None:
    record, _ = publish_with_key(backends, watermark_files, tmp_path)
    found = flow.gather_evidence(
        backends,
        claimant=record,
        key_bytes=watermark_files.key.read_bytes(),
        suspect_model=watermark_files.base,
        out_dir=tmp_path / "claim",
        suspect_label="innocent",
    )
    assert not found.result.is_copy
    assert found.result.verdict.startswith("not a copy")


def test_a_key_the_record_does_not_anchor_is_refused_before_any_model_runs(
    backends: backendslib.Backends, watermark_files: WatermarkFiles, tmp_path: Path
) -> None:
    record, _ = publish_with_key(backends, watermark_files, tmp_path)
    other_key = watermark_files.key.read_bytes().replace(b'"fill":0.5', b'"fill":0.25')
    with pytest.raises(
        LedgermarkError, match=f"this watermark key is not the one record {record.record_id} anchored"
    ):
        flow.gather_evidence(
            backends,
            claimant=record,
            key_bytes=other_key,
            suspect_model=watermark_files.watermarked,
            out_dir=tmp_path / "claim",
            suspect_label="x",
        )
    assert not (tmp_path / "claim").exists()


def test_an_arbiter_given_another_file_than_the_disputed_model_is_told_so(
    backends: backendslib.Backends, watermark_files: WatermarkFiles, tmp_path: Path
) -> None:
    record, _ = publish_with_key(backends, watermark_files, tmp_path)
    root = flow.suspect_root_of(watermark_files.watermarked)
    dispute, _ = flow.open_dispute(
        backends.disputes,
        record.record_id,
        root,
        EVIDENCE,
        "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
    )
    with pytest.raises(LedgermarkError, match="is not the disputed model: its root is not 0x"):
        flow.suspect_model_for(backends, dispute, watermark_files.base, tmp_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "--data-key (default beside --key"),
        (b"not hex\n", "does not hold a data key (expected 64 hex digits)"),
        (b"ab" * 31 + b"\n", "does not hold a data key (expected 64 hex digits)"),
    ],
)
def test_cli_reveal_names_the_data_key_file_when_it_is_unusable(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    from typer.testing import CliRunner

    from registry.cli import app

    key = tmp_path / "key.wmk"
    key.write_bytes(b'{"bits":"secret"}')
    if content is not None:
        (tmp_path / "key.wmk.datakey").write_bytes(content)
    result = CliRunner().invoke(
        app,
        [
            "--data-dir",
            str(tmp_path / "s"),
            "--chain",
            "embedded",
            "dispute",
            "reveal",
            "1",
            "--key",
            str(key),
        ],
    )
    assert result.exit_code == 2, result.output
    assert message in result.output and str(tmp_path / "key.wmk.datakey") in result.output
    assert "Traceback" not in result.output


def test_suspect_roots_name_the_copy_under_every_import_profile(tmp_path: Path) -> None:
    model = tmp_path / "copy.pt"
    model.write_bytes(random.Random(3).randbytes(1_500_000))

    roots = flow.suspect_roots(model)

    for name in unixfs.PROFILES:
        entry = manifestlib.entry_for_file(model, role="model", profile=name)
        assert roots[name] == manifestlib.Manifest.create(model.name, [entry]).root()
    assert len(set(roots.values())) == len(unixfs.PROFILES)  # each profile chunks the copy differently
    assert flow.suspect_root_of(model) == roots["unixfs-v0-2015"]


# --------------------------------------------------------------------------- issue 10, item 8: secrets until reveal


def stored_traces(backends: backendslib.Backends, data_dir: Path, *secrets: str) -> list[str]:
    """Files of the data directory, the claimant's private report copies aside, holding any of ``secrets``."""
    private = data_dir / flow.PRIVATE_REPORTS
    probes = [secret.encode() for secret in secrets]
    return [
        str(f)
        for f in data_dir.rglob("*")
        if f.is_file() and private not in f.parents and any(p in f.read_bytes() for p in probes)
    ]


def test_evidence_pinned_at_open_holds_no_key_bits_triggers_or_key_cid(
    backends: backendslib.Backends,
    embedded_settings: Settings,
    watermark_files: WatermarkFiles,
    tmp_path: Path,
) -> None:
    record, data_key = publish_with_key(backends, watermark_files, tmp_path)
    plaintext = watermark_files.key.read_bytes()
    claim = flow.claim(
        backends,
        str(record.record_id),
        stolen_copy(watermark_files, tmp_path),
        plaintext,
        report_dir=tmp_path / "c",
    )
    full_bytes = claim.evidence.json_path.read_bytes()
    full = json.loads(full_bytes)
    key_cid = publish_flow.key_cid(plaintext)
    bits = [t[name] for t in full["triggers"] for name in ("reference_bits", "extracted_bits")]

    summary = json.loads(backends.store.cat(claim.dispute.evidence_cid, max_size=1 << 20))

    assert (
        summary["report_sha256"]
        == hashlib.sha256(full_bytes).hexdigest()
        == claim.dispute.evidence_hash.hex()
    )
    assert (summary["verdict"], summary["p_value"], summary["wsr"]) == (
        full["verdict"],
        full["p_value"],
        full["wsr"],
    )
    assert not {"triggers", "key_sha256", "segmentation"} & summary.keys()
    text = json.dumps(summary)
    assert key_cid not in text and full["key_sha256"] not in text and not any(b in text for b in bits)
    full_cid = unixfs.import_stream(io.BytesIO(full_bytes), cid_version=1)
    assert not backends.store.has(full_cid)
    assert stored_traces(backends, embedded_settings.data_dir, key_cid, *bits) == []
    opened = backends.disputes.events("DisputeOpened", disputeId=claim.dispute.dispute_id)[0]["args"]
    assert opened["evidenceCid"] == claim.dispute.evidence_cid and key_cid not in str(opened)

    flow.reveal(backends, claim.dispute.dispute_id, plaintext, data_key)  # now, and only now, it is public
    assert backends.store.has(full_cid)
    assert backends.disputes.dispute(claim.dispute.dispute_id).report_cid == full_cid


def test_a_refused_open_pins_nothing(
    backends: backendslib.Backends, watermark_files: WatermarkFiles, tmp_path: Path
) -> None:
    record, _ = publish_with_key(backends, watermark_files, tmp_path)
    plaintext = watermark_files.key.read_bytes()
    pins, block = sorted(backends.store.pins()), backends.chain.w3.eth.block_number
    stranger = backends.signed_by(backends.chain.dev_accounts()[2])

    with pytest.raises(chainlib.UnauthorizedError, match="OwnershipDisputesNotRecordOwner"):
        flow.claim(
            stranger, str(record.record_id), watermark_files.watermarked, plaintext, report_dir=tmp_path / "a"
        )
    assert not (tmp_path / "a").exists()  # refused by the dry run, before the model ran
    with pytest.raises(LedgermarkError, match="the test does not support a claim"):
        flow.claim(
            backends, str(record.record_id), watermark_files.base, plaintext, report_dir=tmp_path / "b"
        )

    assert sorted(backends.store.pins()) == pins
    assert backends.chain.w3.eth.block_number == block
    assert backends.disputes.dispute_count() == 0


def test_reveal_with_the_wrong_key_file_uploads_nothing(
    backends: backendslib.Backends, watermark_files: WatermarkFiles, tmp_path: Path
) -> None:
    record, data_key = publish_with_key(backends, watermark_files, tmp_path)
    claim = flow.claim(
        backends,
        str(record.record_id),
        stolen_copy(watermark_files, tmp_path),
        watermark_files.key.read_bytes(),
        report_dir=tmp_path / "claim",
    )
    wrong = watermark_files.key.read_bytes().replace(b'"fill":0.5', b'"fill":0.25')
    pins, block = sorted(backends.store.pins()), backends.chain.w3.eth.block_number

    with pytest.raises(
        LedgermarkError, match=f"this watermark key is not the one record {record.record_id} anchored"
    ) as refused:
        flow.reveal(backends, claim.dispute.dispute_id, wrong, data_key)

    assert not isinstance(refused.value, IntegrityError)  # a usage error: CLI exit 2
    assert sorted(backends.store.pins()) == pins and backends.chain.w3.eth.block_number == block
    assert not backends.store.has(unixfs.import_stream(io.BytesIO(wrong), cid_version=1))
    assert not backends.disputes.dispute(claim.dispute.dispute_id).key_revealed


def test_evidence_json_is_owner_only(
    backends: backendslib.Backends, watermark_files: WatermarkFiles, tmp_path: Path
) -> None:
    record, _ = publish_with_key(backends, watermark_files, tmp_path)
    claim = flow.claim(
        backends,
        str(record.record_id),
        stolen_copy(watermark_files, tmp_path),
        watermark_files.key.read_bytes(),
        report_dir=tmp_path / "claim",
    )
    private = flow.private_report_path(backends, claim.dispute.evidence_hash)

    for path in (claim.evidence.json_path, claim.evidence.html_path, private):
        assert path.stat().st_mode & 0o777 == 0o600, path
    assert private.parent.stat().st_mode & 0o777 == 0o700
    assert private.read_bytes() == claim.evidence.json_path.read_bytes()


def test_a_revealed_report_other_than_the_committed_one_is_refused_by_arbiters(
    backends: backendslib.Backends, watermark_files: WatermarkFiles, tmp_path: Path
) -> None:
    """The claimant commits to one report and reveals another: the arbiter's tooling refuses it before use."""
    record, data_key = publish_with_key(backends, watermark_files, tmp_path)
    dispute, _ = flow.open_dispute(
        backends.disputes, record.record_id, os.urandom(32), EVIDENCE, "bafyevidence"
    )
    swapped = backends.store.add_bytes(b'{"format": "ledgermark-evidence", "verdict": "copy"}', cid_version=1)
    key_cid = publish_flow.key_cid(watermark_files.key.read_bytes())
    flow.reveal_key(backends.disputes, dispute.dispute_id, key_cid, data_key, swapped)

    with pytest.raises(
        IntegrityError, match=f"the revealed report {swapped} hashes to .*, not to the commitment"
    ):
        flow.review(
            backends, dispute.dispute_id, report_dir=tmp_path / "review", model=watermark_files.watermarked
        )
    assert not (tmp_path / "review").exists()
    shown = flow.report(backends.disputes, dispute.dispute_id, backends)
    assert shown.report_check is not None and shown.report_check.startswith("FAILED: ")
