"""The embedded store's pack files: one pack and one index per import, and nothing visible from a failed one."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import numpy as np
import pytest

from ipfs import unixfs
from ipfs.cid import Cid
from ipfs.embedded import EmbeddedStore
from ipfs.errors import ContentNotFoundError

CHUNK = unixfs.CHUNK_SIZE


def _pack_files(store: EmbeddedStore) -> list[str]:
    return sorted(p.suffix for p in (store.root / "packs").iterdir())


def _blocks_of(data: bytes, cid_version: int = 0) -> list[tuple[Cid, bytes]]:
    blocks: list[tuple[Cid, bytes]] = []
    unixfs.import_stream(
        io.BytesIO(data), cid_version=cid_version, on_block=lambda c, b: blocks.append((c, b))
    )
    return blocks


class _FailingStream(io.BytesIO):
    """Serves ``limit`` bytes, then fails like a disk or network error in the middle of an import."""

    def __init__(self, data: bytes, limit: int) -> None:
        super().__init__(data)
        self._limit = limit

    def read(self, n: int | None = -1) -> bytes:
        if self.tell() >= self._limit:
            raise OSError("read error in the middle of the import")
        return super().read(n)


def test_one_import_writes_one_pack_and_one_index(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "store")
    data = np.random.default_rng(1).bytes(5 * CHUNK + 3)

    cid = store.add_bytes(data)
    store.add_bytes(data)  # every block known: no second pack

    assert _pack_files(store) == [".idx", ".pack"]
    assert list((store.root / "blocks").rglob("*")) == []
    assert store.cat(cid) == data


def test_an_interrupted_import_leaves_no_visible_block(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "store")
    data = np.random.default_rng(2).bytes(4 * CHUNK)
    first_leaf, _ = _blocks_of(data, cid_version=1)[0]

    with pytest.raises(OSError, match="middle of the import"):
        store._put_stream(_FailingStream(data, 2 * CHUNK), profile=unixfs.UNIXFS_V1_2015, progress=None)

    assert _pack_files(store) == []
    assert not store.has(str(first_leaf))
    assert not EmbeddedStore(store.root).has(str(first_leaf))


def test_a_pack_without_its_index_is_never_read(tmp_path: Path) -> None:
    """A crash between writing a pack and renaming its index: the blocks exist on disk but are not content."""
    store = EmbeddedStore(tmp_path / "store")
    cid, block = _blocks_of(b"orphaned block", cid_version=1)[0]
    (store.root / "packs" / "crashed.pack").write_bytes(block)

    reopened = EmbeddedStore(store.root)

    assert not reopened.has(str(cid))
    with pytest.raises(ContentNotFoundError):
        reopened.cat(str(cid))


def test_old_orphans_are_swept_and_young_ones_kept(tmp_path: Path) -> None:
    packs = tmp_path / "store" / "packs"
    packs.mkdir(parents=True)
    (packs / "old.pack").write_bytes(b"x")
    (packs / "young.pack").write_bytes(b"y")  # may belong to an import running in another process
    an_hour_ago = time.time() - 7200
    os.utime(packs / "old.pack", (an_hour_ago, an_hour_ago))

    EmbeddedStore(tmp_path / "store")

    assert sorted(p.name for p in packs.iterdir()) == ["young.pack"]


def test_blocks_in_the_per_block_layout_are_still_served(tmp_path: Path) -> None:
    root = tmp_path / "store"
    data = np.random.default_rng(3).bytes(2 * CHUNK + 9)
    blocks = _blocks_of(data)
    for cid, block in blocks:
        path = root / "blocks" / cid.digest.hex()[:2] / cid.digest.hex()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(block)

    assert EmbeddedStore(root).cat(str(blocks[-1][0])) == data


def test_content_added_by_another_process_is_found(tmp_path: Path) -> None:
    reader = EmbeddedStore(tmp_path / "store")
    cid = EmbeddedStore(tmp_path / "store").add_bytes(b"added elsewhere after the reader opened")

    assert reader.has(cid)
    assert reader.cat(cid) == b"added elsewhere after the reader opened"


def test_a_miss_lists_the_packs_again_only_when_the_folder_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader = EmbeddedStore(tmp_path / "store")
    absent = str(Cid.for_block(b"nobody stored this", version=0, codec=0x70))
    settled = time.time() - 10
    os.utime(tmp_path / "store" / "packs", (settled, settled))
    listings = []
    real_glob = Path.glob
    monkeypatch.setattr(
        Path, "glob", lambda self, pattern: listings.append(pattern) or real_glob(self, pattern)
    )

    assert not reader.has(absent)
    assert not reader.has(absent)
    assert len(listings) == 1, "a settled folder is listed once, not on every miss"

    cid = EmbeddedStore(tmp_path / "store").add_bytes(b"added after the misses")
    assert reader.has(cid), "a pack added since moves the folder's time: it is found"
