"""A watermark dispute end to end on the embedded backends: evidence from real models, pinned, settled on-chain."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from registry import backends as backendslib
from registry import chain as chainlib
from registry import dispute as flow
from registry import publish as publish_flow
from registry.errors import LedgermarkError
from tests.registry.conftest import WatermarkFiles


def publish_with_key(
    backends: backendslib.Backends, files: WatermarkFiles, tmp_path: Path
) -> chainlib.Record:
    sealed = publish_flow.seal_watermark_key(files.key, tmp_path)
    publication = publish_flow.publish(
        backends,
        [publish_flow.Artifact(files.watermarked, role="model"), sealed.artifact],
        name="owner",
        watermark_key_hash=sealed.key_hash,
    )
    return backends.registry.record(publication.record_id)


def test_a_stolen_copy_is_proven_and_the_dispute_upheld(
    backends: backendslib.Backends, watermark_files: WatermarkFiles, tmp_path: Path
) -> None:
    record = publish_with_key(backends, watermark_files, tmp_path)
    stolen = tmp_path / "stolen.pt"
    stolen.write_bytes(watermark_files.watermarked.read_bytes())

    claim = flow.gather_evidence(
        backends,
        claimant=record,
        key_bytes=watermark_files.key.read_bytes(),
        suspect_model=stolen,
        out_dir=tmp_path / "claim",
        suspect_label="unregistered copy",
    )
    assert claim.result.is_copy
    pinned = json.loads(backends.store.cat(claim.report_cid, max_size=1 << 24))
    assert pinned == json.loads(claim.json_path.read_text())
    assert pinned["facts"]["claimant record"] == str(record.record_id) and pinned["is_copy"]

    suspect_root = flow.suspect_root_of(stolen)
    dispute, _ = flow.open_dispute(backends.disputes, record.record_id, suspect_root, claim.report_cid)
    key_cid = backends.store.add_file(watermark_files.key, cid_version=1)
    flow.reveal_key(backends.disputes, dispute.dispute_id, key_cid)

    arbiter_account = backends.chain.dev_accounts()[1]
    backends.disputes.grant_arbiter(arbiter_account.address)
    arbiter = backends.disputes.using(backends.chain.with_account(arbiter_account))
    opened = arbiter.dispute(dispute.dispute_id)
    review = flow.gather_evidence(
        backends,
        claimant=record,
        key_bytes=flow.revealed_key(backends, opened),
        suspect_model=flow.suspect_model_for(backends, opened, stolen, tmp_path),
        out_dir=tmp_path / "review",
        suspect_label="unregistered copy",
    )
    assert review.result.is_copy and review.result.p_chi2 == claim.result.p_chi2
    flow.vote(arbiter, dispute.dispute_id, True, review.report_cid)

    resolution = flow.finalise(backends.disputes, dispute.dispute_id, skip_wait_on_dev_chain=True)
    assert resolution.outcome is chainlib.DisputeStatus.UPHELD
    assert resolution.recipient == backends.chain.address


def test_an_innocent_model_gives_evidence_of_no_copy(
    backends: backendslib.Backends, watermark_files: WatermarkFiles, tmp_path: Path
) -> None:
    record = publish_with_key(backends, watermark_files, tmp_path)
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
    record = publish_with_key(backends, watermark_files, tmp_path)
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
    record = publish_with_key(backends, watermark_files, tmp_path)
    root = flow.suspect_root_of(watermark_files.watermarked)
    dispute, _ = flow.open_dispute(
        backends.disputes,
        record.record_id,
        root,
        "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
    )
    with pytest.raises(LedgermarkError, match="is not the disputed model: its root is not 0x"):
        flow.suspect_model_for(backends, dispute, watermark_files.base, tmp_path)
