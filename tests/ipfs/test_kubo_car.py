"""KuboStore downloads: one CAR export in walk order, single-block requests for the rest, every block verified.

A fake client stands in for the node, so each case (in order, shuffled, tampered) is exact and needs no daemon.
"""

from __future__ import annotations

import io
import random
import types
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ipfs import unixfs
from ipfs.cid import Cid, encode_varint
from ipfs.errors import ContentIntegrityError
from ipfs.kubo import KuboStore

CHUNK = unixfs.CHUNK_SIZE


def _dag(data: bytes, cid_version: int) -> tuple[str, dict[str, bytes]]:
    blocks: dict[str, bytes] = {}
    root = unixfs.import_stream(
        io.BytesIO(data), cid_version=cid_version, on_block=lambda c, b: blocks.setdefault(str(c), b)
    )
    return root, blocks


def _walk_order(root: str, blocks: dict[str, bytes]) -> list[str]:
    """Depth-first, first occurrence only: the order (and deduplication) of `ipfs dag export`."""
    order, stack = [], [Cid.parse(root)]
    while stack:
        node = stack.pop()
        if str(node) not in order:
            order.append(str(node))
        if node.codec == 0x70:
            stack.extend(reversed(unixfs.decode_file_node(blocks[str(node)]).children))
    return order


def _car(order: list[str], blocks: dict[str, bytes]) -> Iterator[bytes]:
    header = b"\xa1gversion\x01"  # the reader skips the header; any bytes of the right length do
    yield encode_varint(len(header)) + header
    for cid in order:
        section = Cid.parse(cid).to_bytes() + blocks[cid]
        payload = encode_varint(len(section)) + section
        for i in range(0, len(payload), 10_000):  # arbitrary HTTP chunking
            yield payload[i : i + 10_000]


def _store(
    order: list[str], car_blocks: dict[str, bytes], blocks: dict[str, bytes]
) -> tuple[KuboStore, list]:
    asked: list[str] = []

    def get(cid: str, **_: object) -> bytes:
        asked.append(cid)
        return blocks[cid]

    store = KuboStore("/ip4/127.0.0.1/tcp/9/http", timeout=1)
    store._client = types.SimpleNamespace(  # type: ignore[assignment]
        dag=types.SimpleNamespace(export=lambda cid, **_: _car(order, car_blocks)),
        block=types.SimpleNamespace(get=get),
        close=lambda: None,
    )
    return store, asked


@pytest.mark.parametrize("cid_version", [0, 1])
def test_a_car_in_walk_order_serves_every_block(tmp_path: Path, cid_version: int) -> None:
    data = np.random.default_rng(1).bytes(3 * CHUNK) + bytes(2 * CHUNK)  # the zero chunk repeats
    root, blocks = _dag(data, cid_version)
    store, asked = _store(_walk_order(root, blocks), blocks, blocks)

    digest = store.get_file(root, tmp_path / "out.bin")

    assert (tmp_path / "out.bin").read_bytes() == data
    assert digest == unixfs.digest_stream(io.BytesIO(data), cid_version=cid_version)
    assert len(asked) == 1  # only the second zero chunk, which the export sends once


def test_a_car_in_another_order_falls_back_to_single_blocks(tmp_path: Path) -> None:
    data = np.random.default_rng(2).bytes(4 * CHUNK + 1)
    root, blocks = _dag(data, 1)
    order = _walk_order(root, blocks)
    shuffled = order[:1] + random.Random(3).sample(order[1:], len(order) - 1)
    store, asked = _store(shuffled, blocks, blocks)

    store.get_file(root, tmp_path / "out.bin")

    assert (tmp_path / "out.bin").read_bytes() == data
    assert asked  # the walk went on with block/get once the CAR left its order


def test_a_tampered_block_in_the_car_is_caught_on_arrival(tmp_path: Path) -> None:
    data = np.random.default_rng(4).bytes(3 * CHUNK)
    root, blocks = _dag(data, 1)
    order = _walk_order(root, blocks)
    tampered = dict(blocks)
    tampered[order[2]] = b"\x00" + blocks[order[2]][1:]
    store, _ = _store(order, tampered, blocks)

    with pytest.raises(ContentIntegrityError, match=f"block {order[2]} of {root} does not match"):
        store.get_file(root, tmp_path / "out" / "copy.bin")
    assert list((tmp_path / "out").iterdir()) == []
