"""The UnixFS importer: Kubo's vectors, equality with a real js-ipfs node, and streaming memory."""

from __future__ import annotations

import io
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from ipfs import unixfs
from ipfs.kubo import KuboStore

CHUNK = unixfs.CHUNK_SIZE
SIZES = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 174 * CHUNK, 174 * CHUNK + 1, 50_000_000]


@pytest.mark.parametrize(
    ("content", "v0", "v1"),
    [
        (
            b"",
            "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH",
            "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
        ),
        (
            b"hello world\n",
            "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o",
            "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4",
        ),
    ],
)
def test_published_vectors(content: bytes, v0: str, v1: str) -> None:
    assert unixfs.import_stream(io.BytesIO(content)) == v0
    assert unixfs.import_stream(io.BytesIO(content), cid_version=1) == v1


def test_short_reads_do_not_change_the_cid() -> None:
    class Trickle(io.BytesIO):
        def read(self, n: int = -1) -> bytes:
            return super().read(min(n, 1000) if n and n > 0 else 1000)

    data = np.random.default_rng(3).bytes(3 * CHUNK + 17)

    assert unixfs.import_stream(Trickle(data)) == unixfs.import_stream(io.BytesIO(data))


def test_every_block_is_emitted_once_and_hashes_to_its_cid() -> None:
    blocks = []
    data = np.random.default_rng(4).bytes(5 * CHUNK)

    root = unixfs.import_stream(io.BytesIO(data), on_block=lambda cid, block: blocks.append((cid, block)))

    assert str(blocks[-1][0]) == root
    assert len(blocks) == 6  # five leaves and one root
    import hashlib

    assert all(hashlib.sha256(block).digest() == cid.digest for cid, block in blocks)


@pytest.mark.parametrize("profile", list(unixfs.PROFILES))
def test_memory_does_not_grow_with_the_file(tmp_path: Path, profile: str) -> None:
    path = tmp_path / "big.bin"
    with open(path, "wb") as out:
        rng = np.random.default_rng(5)
        out.writelines(rng.bytes(1 << 20) for _ in range(40))

    tracemalloc.start()
    unixfs.compute_cid(path, profile=profile)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert peak < 4 << 20, f"peak {peak} bytes while hashing a 40 MiB file"


def _random_file(folder: Path, size: int) -> Path:
    path = folder / f"random-{size}.bin"
    rng = np.random.default_rng(size)
    with open(path, "wb") as out:
        remaining = size
        while remaining:
            step = min(remaining, 8 << 20)
            out.write(rng.bytes(step))
            remaining -= step
    return path


@pytest.fixture(scope="module")
def sized_files(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    folder = tmp_path_factory.mktemp("sizes")
    return {size: _random_file(folder, size) for size in SIZES}


@pytest.mark.daemon
@pytest.mark.parametrize("cid_version", [0, 1])
@pytest.mark.parametrize("size", SIZES)
def test_cid_equals_the_real_node(
    kubo_store: KuboStore, sized_files: dict[int, Path], size: int, cid_version: int
) -> None:
    path = sized_files[size]

    assert kubo_store.add_file(path, cid_version=cid_version) == unixfs.compute_cid(
        path, cid_version=cid_version
    )
