"""Publish → fetch → verify on the embedded backends (in-process EVM, embedded block store)."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry import fetch as fetch_flow
from registry import publish as publish_flow
from registry.errors import LedgermarkError
from tests.registry.conftest import files_under, write_artifacts


def test_fetch_returns_exactly_the_published_bytes(backends, artifacts, published, tmp_path: Path) -> None:
    result = fetch_flow.fetch(backends, str(published.record_id), tmp_path / "buyer")

    assert result.comparison.ok
    assert sorted(result.comparison.intact) == ["model.pt", "triggers.npz"]
    for artifact in artifacts:
        assert (tmp_path / "buyer" / artifact.path.name).read_bytes() == artifact.path.read_bytes()
    assert files_under(tmp_path / "buyer") == ["model.pt", "triggers.npz"]


def test_record_on_chain_matches_the_publication(backends, published) -> None:
    record = backends.registry.record(published.record_id)

    assert record.root == published.root
    assert record.leaf_count == 2
    assert record.manifest_cid == published.manifest_cid
    assert record.owner == backends.chain.account.address
    assert not record.revoked


def test_record_resolves_by_root_as_well_as_by_id(backends, published) -> None:
    by_root = fetch_flow.resolve_record(backends, "0x" + published.root.hex())

    assert by_root.record_id == published.record_id


def test_manifest_is_canonical_and_sorted_by_path(backends, published) -> None:
    record = backends.registry.record(published.record_id)
    manifest = fetch_flow.load_manifest(backends, record)

    assert [e.path for e in manifest.entries] == ["model.pt", "triggers.npz"]
    assert backends.store.cat(published.manifest_cid) == manifest.to_bytes()


def test_local_files_verify_as_intact(backends, artifacts, published) -> None:
    _, comparison = fetch_flow.verify_files(backends, str(published.record_id), [a.path for a in artifacts])

    assert comparison.ok
    assert comparison.describe() == []


def test_publishing_the_same_artifacts_twice_is_refused(backends, artifacts, published) -> None:
    with pytest.raises(LedgermarkError, match=f"already registered as record {published.record_id}"):
        publish_flow.publish(backends, artifacts, name="again")


def test_two_publications_get_distinct_records(backends, published, tmp_path: Path) -> None:
    second = publish_flow.publish(backends, write_artifacts(tmp_path / "other", seed=1), name="other")

    assert second.record_id != published.record_id
    assert second.root != published.root


def test_cid_version_1_publication_round_trips(embedded_settings, artifacts, tmp_path: Path) -> None:
    from registry import backends as backendslib

    with backendslib.open_backends(embedded_settings.with_(cid_version=1)) as backends:
        pub = publish_flow.publish(backends, artifacts, name="v1")
        result = fetch_flow.fetch(backends, str(pub.record_id), tmp_path / "buyer")

    assert all(e.cid.startswith("b") for e in pub.manifest.entries)
    assert result.comparison.ok


def test_sealed_watermark_key_is_published_and_its_hash_anchored(backends, artifacts, tmp_path: Path) -> None:
    from verifier.integrity import sealing

    key_path = tmp_path / "owner" / "key.wmk"
    key_path.write_bytes(b'{"bits":"secret"}')
    workdir = tmp_path / "seal"
    workdir.mkdir()

    sealed = publish_flow.seal_watermark_key(key_path, workdir)
    pub = publish_flow.publish(
        backends, [*artifacts, sealed.artifact], name="wm", watermark_key_hash=sealed.key_hash
    )
    record = backends.registry.record(pub.record_id)

    assert record.watermark_key_hash == publish_flow.key_hash(key_path.read_bytes())
    assert [e.role for e in pub.manifest.entries] == ["model", "trigger", "watermark-key"]
    fetched = fetch_flow.fetch(backends, str(pub.record_id), tmp_path / "buyer")
    sealed_copy = next(p for p in fetched.files if p.name == "watermark-key.sealed")
    assert b"secret" not in sealed_copy.read_bytes()
    assert sealing.unseal(sealed_copy.read_bytes(), sealed.data_key) == key_path.read_bytes()
