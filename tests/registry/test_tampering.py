"""Tampered bytes, swapped files, non-canonical manifests, forged proofs, unknown records.

Each case checks the exact error a user sees and that nothing half-written is left at the destination.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from registry import fetch as fetch_flow
from registry.errors import RecordError, VerificationFailed
from tests.registry.conftest import files_under, write_artifacts
from verifier.integrity import manifest as manifestlib


def _flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_flipped_byte_in_a_local_model_is_itemised(backends, artifacts, published, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(artifacts[0].path.parent, copy)
    _flip_byte(copy / "model.pt", 150_000)

    _, comparison = fetch_flow.verify_files(backends, str(published.record_id), [copy])

    assert not comparison.ok
    assert comparison.intact == ("triggers.npz",)
    (mismatch,) = comparison.mismatched
    assert mismatch.path == "model.pt"
    assert mismatch.role == "model"
    assert mismatch.fields == ("sha256", "cid")
    expected = published.manifest.entries[0]
    assert mismatch.expected == {"sha256": expected.sha256, "cid": expected.cid}
    assert mismatch.actual["sha256"] != expected.sha256
    assert comparison.describe()[0].startswith(
        f"mismatch: model.pt (model): sha256 expected {expected.sha256} got "
    )


def test_swapped_trigger_file_is_named(backends, artifacts, published, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(artifacts[0].path.parent, copy)
    shutil.copy(write_artifacts(tmp_path / "other", seed=7)[1].path, copy / "triggers.npz")

    _, comparison = fetch_flow.verify_files(backends, str(published.record_id), [copy])

    assert [m.path for m in comparison.mismatched] == ["triggers.npz"]
    assert comparison.mismatched[0].fields == ("sha256", "cid")
    assert comparison.intact == ("model.pt",)


def test_missing_and_extra_files_are_reported(backends, artifacts, published, tmp_path: Path) -> None:
    stray = tmp_path / "notes.txt"
    stray.write_text("not part of the model")

    _, comparison = fetch_flow.verify_files(backends, str(published.record_id), [artifacts[0].path, stray])

    assert [e.path for e in comparison.missing] == ["triggers.npz"]
    assert comparison.extra == ("notes.txt",)
    assert "missing: triggers.npz (trigger, expected sha256" in comparison.describe()[0]


def test_corrupted_block_in_the_store_fails_fetch_and_writes_nothing(
    backends, published, tmp_path: Path
) -> None:
    model_entry = published.manifest.entries[0]
    _corrupt_largest_block(backends.settings.blocks_dir)
    dest = tmp_path / "buyer"

    with pytest.raises(VerificationFailed) as caught:
        fetch_flow.fetch(backends, str(published.record_id), dest)

    assert "nothing was written" in str(caught.value)
    assert any(p.startswith(f"corrupt: {model_entry.path}") for p in caught.value.problems)
    assert files_under(dest) == []


def test_reordered_manifest_is_rejected(backends, published, tmp_path: Path) -> None:
    document = json.loads(published.manifest.to_bytes())
    document["entries"].reverse()
    reordered = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    record_id = _register_manifest_bytes(backends, reordered, root=b"\x11" * 32, leaf_count=2)
    dest = tmp_path / "buyer"

    with pytest.raises(VerificationFailed, match="manifest is not in canonical form") as caught:
        fetch_flow.fetch(backends, str(record_id), dest)

    assert f"record {record_id}: manifest " in str(caught.value)
    assert not dest.exists()


def test_manifest_that_does_not_hash_to_the_anchored_root_is_rejected(
    backends, published, tmp_path: Path
) -> None:
    record_id = _register_manifest_bytes(
        backends, published.manifest.to_bytes(), root=b"\x22" * 32, leaf_count=2
    )

    with pytest.raises(VerificationFailed, match="differs from the anchored root 0x2222"):
        fetch_flow.fetch(backends, str(record_id), tmp_path / "buyer")

    assert not (tmp_path / "buyer").exists()


def test_forged_proof_is_rejected_by_the_contract(backends, published) -> None:
    manifest = published.manifest
    leaf = manifest.entries[0].leaf()
    honest, root = manifest.proof(0), manifest.root()

    assert backends.registry.verify_artifact(published.record_id, root, leaf, 0, honest)
    assert not backends.registry.verify_artifact(published.record_id, root, leaf, 1, honest)
    assert not backends.registry.verify_artifact(published.record_id, root, leaf, 0, [b"\x00" * 32])
    forged_leaf = manifestlib.ManifestEntry(
        role="model", path="model.pt", size=1, sha256="0" * 64, cid=manifest.entries[0].cid
    ).leaf()
    assert not backends.registry.verify_artifact(published.record_id, root, forged_leaf, 0, honest)


@pytest.mark.parametrize("reference", ["999", "0x" + "ab" * 32])
def test_unknown_record_is_reported(backends, published, reference: str, tmp_path: Path) -> None:
    with pytest.raises(RecordError) as caught:
        fetch_flow.fetch(backends, reference, tmp_path / "buyer")

    assert str(caught.value) == (
        f"record {reference} is not registered on chain {backends.chain.chain_id} "
        f"(registry {backends.registry.address})"
    )
    assert not (tmp_path / "buyer").exists()


@pytest.mark.parametrize("reference", ["abc", "0x1234", "-1"])
def test_malformed_record_reference_is_reported(backends, reference: str, tmp_path: Path) -> None:
    with pytest.raises(RecordError, match="is neither a record id nor a 0x-prefixed 32-byte Merkle root"):
        fetch_flow.fetch(backends, reference, tmp_path / "buyer")


def _register_manifest_bytes(backends, manifest_bytes: bytes, *, root: bytes, leaf_count: int) -> int:
    """Anchor an arbitrary manifest, as a careless or malicious publisher could."""
    manifest_cid = backends.store.add_bytes(manifest_bytes)
    record_id, _ = backends.registry.publish(root, leaf_count, manifest_cid)
    return record_id


def _corrupt_largest_block(blocks_dir: Path) -> None:
    block = max((p for p in blocks_dir.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    _flip_byte(block, block.stat().st_size // 2)


def test_read_artifact_checks_the_anchored_entry_not_just_the_cid(backends, tmp_path: Path) -> None:
    """An anchored entry whose SHA-256 disagrees with the bytes its CID names is refused, itemised."""
    key = tmp_path / "watermark-key.sealed"
    key.write_bytes(b"sealed key bytes")
    stored = backends.store.put_file(key, cid_version=1)
    forged = manifestlib.ManifestEntry("watermark-key", key.name, stored.size, "0" * 64, stored.cid)
    manifest = manifestlib.Manifest.create("forged", [forged])
    manifest_cid = backends.store.add_bytes(manifest.to_bytes())
    record_id, _ = backends.registry.publish(manifest.root(), 1, manifest_cid)
    record = backends.registry.record(record_id)

    with pytest.raises(VerificationFailed, match="watermark-key artifact watermark-key.sealed") as info:
        fetch_flow.read_artifact(backends, record, "watermark-key", max_size=1 << 20)

    (mismatch,) = info.value.comparison.mismatched
    assert mismatch.fields == ("sha256",) and info.value.comparison.missing == ()
    with pytest.raises(RecordError, match="0 artifacts with role 'model'"):
        fetch_flow.read_artifact(backends, record, "model", max_size=1 << 20)
