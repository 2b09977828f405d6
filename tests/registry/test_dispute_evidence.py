"""A watermark dispute end to end on the embedded backends: evidence from real models, pinned, the sealed key
revealed by its data key (never in plaintext), unsealed by an arbiter and settled on-chain."""

from __future__ import annotations

import dataclasses
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
from tests.registry.conftest import WatermarkFiles
from verifier.integrity import manifest as manifestlib


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


def test_sealed_key_round_trip_an_arbiter_unseals_from_ipfs_and_upholds(
    backends: backendslib.Backends,
    embedded_settings: Settings,
    watermark_files: WatermarkFiles,
    tmp_path: Path,
) -> None:
    record, data_key = publish_with_key(backends, watermark_files, tmp_path)
    plaintext = watermark_files.key.read_bytes()
    stolen = tmp_path / "stolen.pt"
    stolen.write_bytes(watermark_files.watermarked.read_bytes())

    claim = flow.gather_evidence(
        backends,
        claimant=record,
        key_bytes=plaintext,
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
    key_cid, _ = flow.reveal(backends, dispute.dispute_id, plaintext, data_key)
    assert key_cid == publish_flow.key_cid(plaintext)
    revealed = backends.disputes.dispute(dispute.dispute_id)
    assert revealed.key_revealed and revealed.key_cid == key_cid and revealed.data_key == data_key

    arbiter = as_arbiter(backends)
    assert flow.unseal_revealed_key(arbiter, revealed) == plaintext
    review = flow.review(arbiter, dispute.dispute_id, report_dir=tmp_path / "review", model=stolen)
    assert review.result.is_copy and review.result.p_chi2 == claim.result.p_chi2
    shown = flow.report(arbiter.disputes, dispute.dispute_id, arbiter)
    assert shown.key_check is not None and shown.key_check.startswith("ok: ")
    flow.vote(arbiter.disputes, dispute.dispute_id, True, review.report_cid)

    resolution = flow.finalise(backends.disputes, dispute.dispute_id, skip_wait_on_dev_chain=True)
    assert resolution.outcome is chainlib.DisputeStatus.UPHELD
    assert resolution.recipient == backends.chain.address
    assert plaintext_in_store(backends, embedded_settings.data_dir, plaintext) == []


def test_a_wrong_data_key_is_refused_before_any_transaction(
    backends: backendslib.Backends, watermark_files: WatermarkFiles, tmp_path: Path
) -> None:
    record, data_key = publish_with_key(backends, watermark_files, tmp_path)
    dispute, _ = flow.open_dispute(backends.disputes, record.record_id, os.urandom(32), "bafyevidence")
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
    dispute, _ = flow.open_dispute(backends.disputes, record.record_id, os.urandom(32), "bafyevidence")
    key_cid = publish_flow.key_cid(watermark_files.key.read_bytes())
    flow.reveal_key(backends.disputes, dispute.dispute_id, key_cid, sealed_other.data_key)  # chain accepts

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
