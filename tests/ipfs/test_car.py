"""CARv1: our writer against js-ipfs's `dag export`, the reader on our own output, and the store's walk."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from ipfs import car, unixfs
from ipfs.cid import Cid
from ipfs.embedded import EmbeddedStore
from ipfs.errors import ContentIntegrityError
from ipfs.kubo import KuboStore

CHUNK = unixfs.CHUNK_SIZE
# `jsipfs dag export` of the empty file's CIDv0 (QmbFMke1…): the header's dag-cbor, byte for byte
EMPTY_V0 = "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"


@pytest.fixture
def embedded(tmp_path: Path) -> EmbeddedStore:
    return EmbeddedStore(tmp_path / "blocks")


def _data() -> bytes:
    return np.random.default_rng(3).bytes(3 * CHUNK + 17) + bytes(2 * CHUNK)  # the zero chunk repeats


def test_header_is_the_dag_cbor_map_of_roots_and_version() -> None:
    root = Cid.parse(EMPTY_V0)
    expected = (
        bytes([0x38, 0xA2, 0x65])  # varint 56 (the length), map(2), text(5)
        + b"roots"
        + bytes([0x81, 0xD8, 0x2A, 0x58, 0x23, 0x00])  # array(1), tag 42, bytes(35), multibase identity
        + root.to_bytes()
        + bytes([0x67])
        + b"version"
        + bytes([0x01])
    )
    assert car.car_header(root) == expected


@pytest.mark.parametrize("cid_version", [0, 1])
def test_write_then_read_round_trips(embedded: EmbeddedStore, tmp_path: Path, cid_version: int) -> None:
    source = tmp_path / "data.bin"
    source.write_bytes(_data())
    root = embedded.add_file(source, cid_version=cid_version)
    blocks = list(embedded.walk(root))

    reader = car.CarReader(iter(car.write_car(Cid.parse(root), blocks)))

    assert [reader.take(cid) for cid, _ in blocks] == [block for _, block in blocks]
    assert len({cid for cid, _ in blocks}) == len(blocks)  # the repeated zero chunk comes once


def test_walk_verifies_every_block(embedded: EmbeddedStore, tmp_path: Path) -> None:
    source = tmp_path / "data.bin"
    source.write_bytes(_data())
    root = embedded.add_file(source)
    pack = next((tmp_path / "blocks" / "packs").glob("*.pack"))
    tampered = bytearray(pack.read_bytes())
    tampered[100] ^= 1  # inside the first block written: a leaf (the root comes last)
    pack.write_bytes(bytes(tampered))

    with pytest.raises(ContentIntegrityError):
        list(embedded.walk(root))
    assert embedded.get_block(root)  # the root itself is intact


def test_get_block_refuses_bytes_that_do_not_match(embedded: EmbeddedStore) -> None:
    cid = Cid.for_block(b"the real block", version=1, codec=0x55)
    path = embedded._block_path(cid)  # the one-file-per-block layout, still read
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"other bytes")

    with pytest.raises(ContentIntegrityError, match=str(cid)):
        embedded.get_block(cid)
    with pytest.raises(ContentIntegrityError):
        embedded.get_block(str(cid))


def test_reader_drops_a_section_larger_than_its_bound() -> None:
    block = b"x" * 100
    cid = Cid.for_block(block, version=1, codec=0x55)
    stream = iter(car.write_car(cid, [(cid, block)]))

    assert car.CarReader(stream, max_section=50).take(cid) is None


@pytest.mark.parametrize("cid_version", [0, 1])
def test_our_car_equals_jsipfs_dag_export(
    kubo_store: KuboStore, embedded: EmbeddedStore, tmp_path: Path, cid_version: int
) -> None:
    source = tmp_path / "data.bin"
    source.write_bytes(_data())
    root = embedded.add_file(source, cid_version=cid_version)
    assert kubo_store.add_file(source, cid_version=cid_version) == root

    exported = b"".join(kubo_store._client.dag.export(root, stream=True, timeout=20))
    ours = b"".join(car.write_car(Cid.parse(root), embedded.walk(root)))

    assert exported[: len(car.car_header(Cid.parse(root)))] == car.car_header(Cid.parse(root))
    assert ours == exported


def test_walk_of_an_in_memory_dag_matches_the_importer_blocks(embedded: EmbeddedStore) -> None:
    data = _data()
    blocks: dict[Cid, bytes] = {}
    root = unixfs.import_stream(io.BytesIO(data), on_block=lambda c, b: blocks.setdefault(c, b))
    embedded.add_bytes(data)

    walked = dict(embedded.walk(root))

    assert walked == blocks
