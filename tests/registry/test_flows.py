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
    from registry import dispute as dispute_flow
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
    assert not backends.store.has(publish_flow.key_cid(key_path.read_bytes()))  # only the ciphertext went up
    fetched = fetch_flow.fetch(backends, str(pub.record_id), tmp_path / "buyer")
    sealed_copy = next(p for p in fetched.files if p.name == "watermark-key.sealed")
    assert b"secret" not in sealed_copy.read_bytes()
    assert sealing.unseal(sealed_copy.read_bytes(), sealed.data_key) == key_path.read_bytes()
    opened = dispute_flow.unseal_record_key(backends, record, sealed.data_key, context="test")
    assert opened == key_path.read_bytes()
    altered = sealed_copy.read_bytes()
    with pytest.raises(sealing.SealedKeyTampered):
        sealing.unseal(altered[:-1] + bytes([altered[-1] ^ 1]), sealed.data_key)
    with pytest.raises(LedgermarkError, match="is already a sealed key"):
        publish_flow.seal_watermark_key(sealed.artifact.path, workdir)


class _ReadCounter:
    """Counts the bytes read through every file ``open`` hands out for the watched paths."""

    def __init__(self, watched: set[Path]) -> None:
        self.watched = {p.resolve() for p in watched}
        self.read: dict[Path, int] = {p: 0 for p in self.watched}

    def open(self, path, mode="r", *args, **kwargs):
        handle = open(path, mode, *args, **kwargs)  # noqa: SIM115 (returned to the caller)
        resolved = Path(path).resolve()
        if resolved not in self.watched or "r" not in mode:
            return handle
        counter, original = self, handle.read

        def read(n: int = -1) -> bytes:
            data = original(n)
            counter.read[resolved] += len(data)
            return data

        handle.read = read
        return handle


def test_publish_reads_each_artifact_once(backends, artifacts, monkeypatch: pytest.MonkeyPatch) -> None:
    import ipfs.store
    import ipfs.unixfs

    counter = _ReadCounter({a.path for a in artifacts})
    monkeypatch.setattr(ipfs.store, "open", counter.open, raising=False)
    monkeypatch.setattr(ipfs.unixfs, "open", counter.open, raising=False)

    publication = publish_flow.publish(backends, artifacts, name="once")

    sizes = {a.path.resolve(): a.path.stat().st_size for a in artifacts}
    assert counter.read == sizes
    by_path = {e.path: e for e in publication.manifest.entries}
    from verifier.integrity import manifest as manifestlib

    for artifact in artifacts:
        assert by_path[artifact.path.name] == manifestlib.entry_for_file(
            artifact.path, role=artifact.role, name=artifact.path.name
        )


def test_fetch_takes_each_block_out_once_and_never_rereads(
    backends, published, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ipfs import unixfs
    from verifier.integrity import manifest as manifestlib

    def no_second_pass(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("fetch re-read a downloaded file")

    monkeypatch.setattr(manifestlib, "digest_file", no_second_pass)
    monkeypatch.setattr(unixfs, "digest_file", no_second_pass)
    monkeypatch.setattr(unixfs, "import_stream", no_second_pass)
    served: list[str] = []
    original = backends.store._get_block

    def counting(cid, root):
        served.append(str(cid))
        return original(cid, root)

    monkeypatch.setattr(backends.store, "_get_block", counting)

    result = fetch_flow.fetch(backends, str(published.record_id), tmp_path / "buyer")

    assert result.comparison.ok
    assert len(served) == len(set(served))  # no block twice (the manifest, then each artifact's blocks)
    assert files_under(tmp_path / "buyer") == ["model.pt", "triggers.npz"]
