"""The record index on the in-process chain: search, filters, pages, disputes, missing manifests, rebuilds.

Every record is published through the real flows (IPFS store, commit–reveal on chain); the index learns of it
only from the contracts' events and the store.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import pytest

from ipfs.embedded import EmbeddedStore
from registry import backends as backendslib
from registry import chain as chainlib
from registry import publish as publish_flow
from registry.index import IndexQueryError, RecordIndex, _follow
from verifier.integrity import manifest as manifestlib


def publish(
    backends: backendslib.Backends,
    folder: Path,
    name: str,
    *,
    card: str | None = None,
    parent: int = 0,
    key_hash: bytes = bytes(32),
) -> int:
    """Publish a tiny model (and a README card) under ``name``; returns the record id."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.pt").write_bytes(os.urandom(64))
    artifacts = [publish_flow.Artifact(folder / "model.pt", role="model")]
    if card is not None:
        (folder / "README.md").write_text(card)
        artifacts.append(publish_flow.Artifact(folder / "README.md", role="card"))
    derivation = chainlib.Derivation.FINE_TUNE if parent else chainlib.Derivation.NONE
    return publish_flow.publish(
        backends, artifacts, name=name, parent_id=parent, derivation=derivation, watermark_key_hash=key_hash
    ).record_id


def dump(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every table the chain and the store determine (not retry bookkeeping), in a fixed order."""
    with sqlite3.connect(path) as conn:
        return {
            "events": conn.execute("SELECT * FROM events ORDER BY block, log_index").fetchall(),
            "records": conn.execute("SELECT * FROM records ORDER BY record_id").fetchall(),
            "disputes": conn.execute("SELECT * FROM disputes ORDER BY dispute_id").fetchall(),
            "votes": conn.execute("SELECT * FROM votes ORDER BY dispute_id, arbiter").fetchall(),
            "manifests": conn.execute(
                "SELECT cid, status, root, leaf_count, name, document, card FROM manifests ORDER BY cid"
            ).fetchall(),
            "search": conn.execute("SELECT rowid, name, card FROM record_fts ORDER BY rowid").fetchall(),
        }


@pytest.fixture
def index(tmp_path: Path) -> RecordIndex:
    return RecordIndex.open(tmp_path / "index.sqlite3")


@pytest.fixture
def catalogue(backends: backendslib.Backends, index: RecordIndex, tmp_path: Path) -> dict[str, int]:
    """Five records: two families, a transfer and a revocation, indexed as they happen."""
    ids = {
        "base": publish(backends, tmp_path / "a", "digits-cnn", card="A convolutional digits classifier."),
        "other": publish(backends, tmp_path / "b", "speech-tiny", card="Keyword spotting for wake words."),
    }
    index.sync(backends)
    ids["child"] = publish(backends, tmp_path / "c", "digits-cnn-int8", parent=ids["base"])
    ids["child2"] = publish(
        backends, tmp_path / "d", "digits-pruned", parent=ids["base"], card="Pruned sparse."
    )
    buyer = backends.chain.dev_accounts(2)[1].address
    backends.registry.transfer(ids["other"], buyer)
    index.sync(backends)
    ids["gone"] = publish(backends, tmp_path / "e", "withdrawn-model")
    backends.registry.revoke(ids["gone"])
    index.sync(backends)
    return ids


def ids_of(page: object) -> list[int]:
    return [row.record_id for row in page.items]  # type: ignore[attr-defined]


def test_search_finds_records_by_name_and_by_card_text(index: RecordIndex, catalogue: dict[str, int]) -> None:
    assert ids_of(index.records(query="speech")) == [catalogue["other"]]
    assert ids_of(index.records(query="wake words")) == [catalogue["other"]], "card text is searched"
    assert ids_of(index.records(query="digi")) == sorted(
        [catalogue["base"], catalogue["child"], catalogue["child2"]], reverse=True
    ), "a word matches as a prefix"
    assert ids_of(index.records(query="convolutional digits")) == [catalogue["base"]]
    assert index.records(query="nothing-like-this").total == 0
    assert ids_of(index.records(query='speech" (*:^')) == [catalogue["other"]], "FTS syntax is plain words"


def test_filters_by_owner_name_parent_and_revocation(
    backends: backendslib.Backends, index: RecordIndex, catalogue: dict[str, int]
) -> None:
    buyer = backends.chain.dev_accounts(2)[1].address
    assert ids_of(index.records(owner=buyer.lower())) == [catalogue["other"]], "owner after the transfer"
    assert ids_of(index.records(parent=catalogue["base"])) == [catalogue["child2"], catalogue["child"]]
    assert ids_of(index.records(name="DIGITS-CNN")) == [catalogue["base"]]
    assert ids_of(index.records(revoked=True)) == [catalogue["gone"]]
    assert catalogue["gone"] not in ids_of(index.records(revoked=False))
    row = index.record(catalogue["child"])
    assert row is not None and (row.name, row.derivation, row.manifest_status) == (
        "digits-cnn-int8",
        "fine-tune",
        "verified",
    )
    assert index.record(catalogue["base"]).children == 2  # type: ignore[union-attr]
    with pytest.raises(IndexQueryError, match="owner"):
        index.records(owner="0x1234")


def test_pages_cover_every_record_once_newest_first(index: RecordIndex, catalogue: dict[str, int]) -> None:
    seen: list[int] = []
    cursor = None
    while True:
        page = index.records(limit=2, cursor=cursor)
        assert page.total == len(catalogue)
        seen += ids_of(page)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == sorted(catalogue.values(), reverse=True)
    with pytest.raises(IndexQueryError, match="cursor"):
        index.records(cursor="not-a-cursor")
    with pytest.raises(IndexQueryError, match="limit"):
        index.records(limit=0)


def test_a_rebuild_equals_the_incremental_index(
    backends: backendslib.Backends, index: RecordIndex, catalogue: dict[str, int], tmp_path: Path
) -> None:
    rebuilt = RecordIndex.open(tmp_path / "rebuilt.sqlite3")
    report = rebuilt.sync(backends)

    assert report.records_added == len(catalogue)
    assert dump(tmp_path / "rebuilt.sqlite3") == dump(index.path)


def test_a_rebuild_read_one_block_per_range_equals_the_incremental_index(
    backends: backendslib.Backends,
    index: RecordIndex,
    catalogue: dict[str, int],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A dense chain is read in narrow ranges (one event per range aimed at here): same index, more ranges."""
    monkeypatch.setattr(_follow, "FIRST_SPAN", 1)
    monkeypatch.setattr(_follow, "TARGET_EVENTS", 1)
    ranges: list[tuple[int, int]] = []
    real = _follow.events
    monkeypatch.setattr(_follow, "events", lambda c, k, a, b: ranges.append((a, b)) or real(c, k, a, b))
    rebuilt = RecordIndex.open(tmp_path / "narrow.sqlite3")
    report = rebuilt.sync(backends)

    assert report.records_added == len(catalogue)
    assert dump(tmp_path / "narrow.sqlite3") == dump(index.path)
    assert len(ranges) > 2 and ranges[0][1] == ranges[0][0]  # several ranges, the first one block wide
    assert [a for a, _ in ranges[1:]] == [b + 1 for _, b in ranges[:-1]]  # contiguous, nothing skipped
    assert ranges[-1][1] == report.to_block


def test_the_next_range_is_sized_by_the_events_found() -> None:
    assert _follow.next_span(100, 0) == _follow.CHUNK_BLOCKS  # nothing there: the widest range
    assert _follow.next_span(64, 16_000) == 64 * _follow.TARGET_EVENTS // 16_000  # dense: narrower
    assert _follow.next_span(1, 50_000) == 1  # never empty
    assert _follow.next_span(10, 1) == min(_follow.CHUNK_BLOCKS, 10 * _follow.TARGET_EVENTS)


def test_disputes_votes_and_resolution_are_indexed(
    backends: backendslib.Backends, index: RecordIndex, tmp_path: Path
) -> None:
    claimant = publish(
        backends, tmp_path / "a", "original", key_hash=chainlib.watermark_key_hash("bafkeycid")
    )
    thief_account, arbiter = backends.chain.dev_accounts(3)[1:]
    suspect = publish(backends.signed_by(thief_account), tmp_path / "b", "copy")
    dispute_id, _ = backends.disputes.open_dispute(
        claimant, suspect, hashlib.sha256(b"r").digest(), "QmSummary"
    )
    index.sync(backends)

    assert ids_of(index.records(open_dispute=True)) == [suspect, claimant]
    opened = index.dispute(dispute_id)
    assert opened is not None and (opened.status, opened.suspect_record, opened.priority) == (
        "open",
        suspect,
        "claimant-first",
    )

    backends.disputes.reveal_key(dispute_id, "bafkeycid", os.urandom(32), "QmReport")
    backends.disputes.grant_arbiter(arbiter.address)
    backends.disputes.using(backends.chain.with_account(arbiter)).vote(dispute_id, True, "QmVote")
    backends.chain.time_travel(backends.disputes.voting_period() + 1)
    backends.disputes.finalise(dispute_id)
    index.sync(backends)

    resolved = index.dispute(dispute_id)
    assert resolved is not None
    assert (resolved.status, resolved.key_cid, resolved.uphold_votes) == ("upheld", "bafkeycid", 1)
    assert [(v.arbiter, v.uphold, v.report_cid) for v in resolved.votes] == [
        (arbiter.address, True, "QmVote")
    ]
    assert index.records(open_dispute=True).total == 0
    assert [d.dispute_id for d in index.disputes(record_id=suspect)] == [dispute_id]
    events = [t.event for t in index.transactions(suspect)]
    assert events == [
        "ModelRegistered",
        "DisputeOpened",
        "KeyRevealed",
        "VoteCast",
        "DisputeResolved",
        "BondPaid",
    ]


def test_a_missing_manifest_is_listed_then_fetched_when_it_appears(
    backends: backendslib.Backends, index: RecordIndex, tmp_path: Path
) -> None:
    entry = manifestlib.ManifestEntry(
        "model",
        "model.pt",
        3,
        hashlib.sha256(b"abc").hexdigest(),
        "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o",
    )
    manifest = manifestlib.Manifest.create("late-arrival", [entry])
    elsewhere = EmbeddedStore(tmp_path / "elsewhere")
    cid = elsewhere.add_bytes(manifest.to_bytes())  # not in the service's store yet
    record_id, _ = backends.registry.publish(manifest.root(), 1, cid)
    index.retry_base_s = 0.0

    index.sync(backends)
    row = index.record(record_id)
    assert row is not None and (row.name, row.manifest_status) == (None, "missing")
    assert index.status().manifests_missing == 1

    backends.store.add_bytes(manifest.to_bytes())
    index.sync(backends)
    row = index.record(record_id)
    assert row is not None and (row.name, row.manifest_status) == ("late-arrival", "verified")
    assert ids_of(index.records(query="late")) == [record_id]


def test_a_manifest_that_is_not_the_anchored_one_names_nothing(
    backends: backendslib.Backends, index: RecordIndex, tmp_path: Path
) -> None:
    real = publish(backends, tmp_path / "a", "genuine")
    index.sync(backends)
    borrowed = index.record(real).manifest_cid  # type: ignore[union-attr]
    record_id, _ = backends.registry.publish(os.urandom(32), 1, borrowed)  # another root, same manifest
    index.sync(backends)

    row = index.record(record_id)
    assert row is not None and (row.name, row.manifest_status) == (None, "invalid")
    assert index.artifacts(record_id) is None
    assert ids_of(index.records(query="genuine")) == [real]


def test_an_unreadable_or_foreign_file_is_rebuilt(
    backends: backendslib.Backends, tmp_path: Path, catalogue: dict[str, int], index: RecordIndex
) -> None:
    index.close()
    index.path.write_bytes(b"this is not a database" * 100)
    reopened = RecordIndex.open(index.path)
    assert reopened.status().records == 0
    reopened.sync(backends)
    assert reopened.status().records == len(catalogue)


def test_the_fast_event_decoder_agrees_with_the_abi_decoder(
    backends: backendslib.Backends, catalogue: dict[str, int]
) -> None:
    from registry.chain import abi
    from registry.index import _decode

    seen = set()
    for client, contract in ((backends.registry, "ModelRegistry"), (backends.disputes, "OwnershipDisputes")):
        for log in backends.chain.get_logs(client.address, [], from_block=0):
            expected = abi.decode_log(contract, log)
            assert expected is not None
            expected["args"] = {
                k: "0x" + v.hex() if isinstance(v, bytes) else v for k, v in expected["args"].items()
            }
            assert _decode.decode(contract, log) == expected
            seen.add(expected["event"])
    assert {"ModelRegistered", "RecordTransferred", "RecordRevoked", "CommitmentRecorded"} <= seen


def test_following_another_deployment_forgets_the_old_records_and_their_search_rows(
    backends: backendslib.Backends, index: RecordIndex, catalogue: dict[str, int]
) -> None:
    other = _follow.Contracts(backends.chain.chain_id, "0x" + "11" * 20, "0x" + "22" * 20, 0)
    index._bind(other)

    assert index.status().records == 0
    assert index.records(query="digits").total == 0
    assert index.records(query="digits", revoked=False).total == 0
