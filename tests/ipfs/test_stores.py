"""One conformance suite for ``ContentStore``, run against the embedded store and a real js-ipfs node."""

from __future__ import annotations

import io
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import ipfs.store
from ipfs import unixfs
from ipfs.cid import Cid
from ipfs.embedded import EmbeddedStore
from ipfs.errors import ContentIntegrityError, ContentNotFoundError, InvalidCidError, IpfsUnavailableError
from ipfs.kubo import KuboStore
from ipfs.store import ContentStore

MISSING = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxqaaaaa"


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


class ContentStoreConformance:
    """Subclasses provide a ``store`` fixture; every store must pass all of these."""

    @pytest.mark.parametrize("cid_version", [0, 1])
    def test_add_file_returns_the_kubo_cid_and_pins_it(
        self, store: ContentStore, tmp_path: Path, cid_version: int
    ) -> None:
        path = tmp_path / "model.bin"
        path.write_bytes(np.random.default_rng(1).bytes(600_000))

        cid = store.add_file(path, cid_version=cid_version)

        assert cid == unixfs.compute_cid(path, cid_version=cid_version)
        assert store.has(cid)
        assert cid in store.pins()

    @pytest.mark.parametrize("cid_version", [0, 1])
    def test_get_file_round_trips(self, store: ContentStore, tmp_path: Path, cid_version: int) -> None:
        data = np.random.default_rng(2).bytes(700_000)
        (tmp_path / "in.bin").write_bytes(data)
        cid = store.add_file(tmp_path / "in.bin", cid_version=cid_version)
        seen: list[int] = []

        store.get_file(cid, tmp_path / "out" / "copy.bin", progress=seen.append)

        assert (tmp_path / "out" / "copy.bin").read_bytes() == data
        assert sum(seen) == len(data)
        assert _leftovers(tmp_path / "out") == ["copy.bin"]

    def test_a_fetched_file_gets_the_mode_a_plain_create_would(
        self, store: ContentStore, tmp_path: Path
    ) -> None:
        (tmp_path / "in.bin").write_bytes(b"weights")
        cid = store.add_file(tmp_path / "in.bin")
        previous = os.umask(0o027)
        try:
            store.get_file(cid, tmp_path / "out.bin")
        finally:
            os.umask(previous)

        assert (tmp_path / "out.bin").stat().st_mode & 0o777 == 0o640  # not mkstemp's owner-only 0600

    @pytest.mark.parametrize("cid_version", [0, 1])
    def test_put_and_get_yield_the_digest_of_one_pass(
        self, store: ContentStore, tmp_path: Path, cid_version: int
    ) -> None:
        path = tmp_path / "in.bin"
        path.write_bytes(np.random.default_rng(6).bytes(3 * unixfs.CHUNK_SIZE + 11))
        expected = unixfs.digest_file(path, cid_version=cid_version)

        stored = store.put_file(path, cid_version=cid_version)
        fetched = store.get_file(stored.cid, tmp_path / "out" / "copy.bin")

        assert stored == expected
        assert fetched == expected

    @pytest.mark.parametrize("cid_version", [0, 1])
    def test_repeated_chunks_round_trip(self, store: ContentStore, tmp_path: Path, cid_version: int) -> None:
        """A repeated chunk is one block stored (and exported) once but read at each of its positions."""
        chunk = unixfs.CHUNK_SIZE
        unique = np.random.default_rng(9).bytes(2 * chunk)
        data = unique + bytes(2 * chunk) + unique + b"tail"
        (tmp_path / "in.bin").write_bytes(data)
        cid = store.add_file(tmp_path / "in.bin", cid_version=cid_version)

        digest = store.get_file(cid, tmp_path / "out" / "copy.bin")

        assert (tmp_path / "out" / "copy.bin").read_bytes() == data
        assert digest.size == len(data)

    def test_put_reads_each_byte_once(self, store: ContentStore) -> None:
        data = np.random.default_rng(7).bytes(2 * unixfs.CHUNK_SIZE + 5)
        stream = _CountingStream(data)

        digest = store._put_stream(stream, profile=unixfs.UNIXFS_V1_2015, progress=None)

        assert stream.served == len(data)
        assert digest.size == len(data)

    def test_get_verifies_each_block_once(
        self, store: ContentStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        path = tmp_path / "in.bin"
        path.write_bytes(np.random.default_rng(8).bytes(5 * unixfs.CHUNK_SIZE))
        blocks: list[Cid] = []
        with open(path, "rb") as stream:
            unixfs.import_stream(stream, on_block=lambda cid, _: blocks.append(cid))
        cid = store.add_file(path)
        verified: list[Cid] = []
        original = ipfs.store._check_block

        def counting(node: Cid, block: bytes, root: str) -> None:
            verified.append(node)
            original(node, block, root)

        monkeypatch.setattr(ipfs.store, "_check_block", counting)
        store.get_file(cid, tmp_path / "out" / "copy.bin")

        assert sorted(map(str, verified)) == sorted(map(str, blocks))

    def test_add_bytes_and_cat(self, store: ContentStore) -> None:
        cid = store.add_bytes(b"hello world\n")

        assert cid == "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
        assert store.cat(cid) == b"hello world\n"

    def test_empty_content(self, store: ContentStore) -> None:
        assert (
            store.add_bytes(b"", cid_version=1)
            == "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
        )

    def test_cat_refuses_oversized_content(self, store: ContentStore) -> None:
        cid = store.add_bytes(b"x" * 1000)

        with pytest.raises(Exception, match="is larger than 100 bytes"):
            store.cat(cid, max_size=100)

    def test_unknown_content_is_not_found_and_writes_nothing(
        self, store: ContentStore, tmp_path: Path
    ) -> None:
        assert not store.has(MISSING)
        with pytest.raises(ContentNotFoundError, match=f"content {MISSING} is not available from"):
            store.get_file(MISSING, tmp_path / "out" / "x.bin")
        assert _leftovers(tmp_path / "out") == []

    def test_malformed_cid_is_rejected(self, store: ContentStore, tmp_path: Path) -> None:
        with pytest.raises(InvalidCidError):
            store.get_file("not-a-cid", tmp_path / "x")


class _CountingStream(io.BytesIO):
    """Counts the bytes a reader takes out, to prove nothing is read twice."""

    served = 0

    def read(self, n: int | None = -1) -> bytes:
        data = super().read(n)
        self.served += len(data)
        return data


class TestEmbeddedStore(ContentStoreConformance):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[EmbeddedStore]:
        with EmbeddedStore(tmp_path / "blocks") as embedded:
            yield embedded

    def test_a_tampered_block_is_reported_and_nothing_is_written(
        self, store: EmbeddedStore, tmp_path: Path
    ) -> None:
        (tmp_path / "in.bin").write_bytes(np.random.default_rng(3).bytes(600_000))
        cid = store.add_file(tmp_path / "in.bin")
        (pack,) = (store.root / "packs").glob("*.pack")
        data = bytearray(pack.read_bytes())
        data[100] ^= 1  # inside the first block of the pack: the first leaf
        pack.write_bytes(bytes(data))
        first_leaf = unixfs.decode_file_node(store._get_block(Cid.parse(cid), cid)).children[0]

        with pytest.raises(ContentIntegrityError, match=f"block {first_leaf} of {cid} does not match"):
            store.get_file(cid, tmp_path / "out" / "copy.bin")
        assert _leftovers(tmp_path / "out") == []

    def test_content_survives_reopening(self, store: EmbeddedStore) -> None:
        cid = store.add_bytes(b"persistent")

        assert EmbeddedStore(store.root).cat(cid) == b"persistent"


@pytest.mark.daemon
class TestKuboStoreOnJsIpfs(ContentStoreConformance):
    @pytest.fixture
    def store(self, kubo_store: KuboStore) -> KuboStore:
        kubo_store.timeout = 3  # a missing block waits for the whole timeout on an offline node
        return kubo_store


def test_node_down_is_reported_quickly_with_the_address() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = KuboStore(f"/ip4/127.0.0.1/tcp/{port}/http", timeout=5)
    started = time.monotonic()

    with pytest.raises(IpfsUnavailableError) as caught:
        store.add_bytes(b"x")

    assert time.monotonic() - started < 5
    assert str(caught.value).startswith(f"IPFS node at /ip4/127.0.0.1/tcp/{port}/http is not reachable (")
    assert str(caught.value).endswith(
        "start the daemon or pass --ipfs with its RPC multiaddr (or use --ipfs embedded)"
    )
