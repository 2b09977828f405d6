"""Content from anywhere, trusted from nowhere: trustless gateways (honest, lying, down) and the source chain."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ipfs import unixfs
from ipfs.cid import RAW, Cid
from ipfs.embedded import EmbeddedStore
from ipfs.errors import ContentNotFoundError, ContentTooLargeError, IntegrityError, IpfsError
from ipfs.gateway import GatewayStore
from ipfs.kubo import KuboStore, rpc_multiaddr
from ipfs.sources import CORRUPT, DOWN, MISSING, SERVED, SourceChain, SourcesIntegrityError
from registry.jsipfs import JsIpfsDaemon
from tests.fixtures.gateway_server import GatewayServer, lying_dag

CHUNK = unixfs.CHUNK_SIZE
DATA = np.random.default_rng(11).bytes(4 * CHUNK + 123)


@pytest.fixture
def origin(tmp_path: Path) -> tuple[EmbeddedStore, str]:
    """The store behind the gateways, holding one multi-chunk file."""
    store = EmbeddedStore(tmp_path / "origin")
    source = tmp_path / "model.bin"
    source.write_bytes(DATA)
    return store, store.add_file(source)


@pytest.fixture
def empty(tmp_path: Path) -> EmbeddedStore:
    """The reader's own primary store, which does not hold the content."""
    return EmbeddedStore(tmp_path / "mine")


def _leaf(root: str, store: EmbeddedStore) -> Cid:
    return unixfs.decode_file_node(store.get_block(root)).children[1]


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _free_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.parametrize("car", [True, False])
def test_a_gateway_alone_serves_a_multi_chunk_file(
    origin: tuple[EmbeddedStore, str], tmp_path: Path, car: bool
) -> None:
    store, root = origin
    with GatewayServer(store, car=car) as server, GatewayStore(server.url, timeout=5) as gateway:
        digest = gateway.get_file(root, tmp_path / "out" / "model.bin")

    assert (tmp_path / "out" / "model.bin").read_bytes() == DATA
    assert digest.cid == root and digest.size == len(DATA)
    formats = [fmt for method, _, fmt in server.requests if method == "GET"]
    assert formats == (["car"] if car else ["car"] + ["raw"] * 6)  # one CAR, or the root and 5 leaves


def test_a_gateway_answers_has_and_refuses_writes(origin: tuple[EmbeddedStore, str], tmp_path: Path) -> None:
    store, root = origin
    absent = str(Cid.for_block(b"nobody has this", version=1, codec=RAW))
    with GatewayServer(store) as server, GatewayStore(server.url, timeout=5) as gateway:
        assert gateway.has(root) and not gateway.has(absent)
        assert server.requests[0][0] == "HEAD"
        with pytest.raises(IpfsError, match=f"{server.url}.*read-only"):
            gateway.add_bytes(b"x")
        with pytest.raises(IpfsError, match="read-only"):
            gateway.pin(root)


def test_a_block_over_the_bound_is_refused(origin: tuple[EmbeddedStore, str], tmp_path: Path) -> None:
    store, root = origin
    with (
        GatewayServer(store, car=False) as server,
        GatewayStore(server.url, max_block=1000) as gateway,
        pytest.raises(IpfsError, match="more than 1000 bytes") as caught,
    ):
        gateway.get_file(root, tmp_path / "out.bin")
    assert server.url in str(caught.value)
    assert _leftovers(tmp_path) == ["model.bin", "origin"]


def test_a_corrupting_gateway_is_named_and_an_honest_one_serves(
    origin: tuple[EmbeddedStore, str], empty: EmbeddedStore, tmp_path: Path
) -> None:
    store, root = origin
    with (
        GatewayServer(store, corrupt=_leaf(root, store)) as bad,
        GatewayServer(store) as good,
        SourceChain(empty, [GatewayStore(bad.url), GatewayStore(good.url)]) as chain,
    ):
        chain.get_file(root, tmp_path / "out.bin")
        report = {r.source: r for r in chain.last_report}

    assert (tmp_path / "out.bin").read_bytes() == DATA
    assert report[f"gateway {bad.url}"].outcome == CORRUPT
    assert report[f"gateway {bad.url}"].blocks == 2  # the root and the first leaf were good
    assert report[f"gateway {good.url}"].outcome == SERVED
    assert report[empty.describe()].outcome == MISSING


def test_only_dishonest_sources_fail_with_each_named_and_nothing_written(
    origin: tuple[EmbeddedStore, str], empty: EmbeddedStore, tmp_path: Path
) -> None:
    store, root = origin
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "model.bin").write_bytes(b"what was here before")
    with (
        GatewayServer(store, corrupt=_leaf(root, store)) as one,
        GatewayServer(store, corrupt=_leaf(root, store)) as two,
        SourceChain(empty, [GatewayStore(one.url), GatewayStore(two.url)]) as chain,
        pytest.raises(SourcesIntegrityError) as caught,
    ):
        chain.get_file(root, dest / "model.bin")

    assert isinstance(caught.value, IntegrityError)
    message = str(caught.value)
    assert one.url in message and two.url in message and empty.describe() in message
    assert (dest / "model.bin").read_bytes() == b"what was here before"
    assert _leftovers(dest) == ["model.bin"]


def test_a_gateway_that_is_down_gives_way_to_the_next(
    origin: tuple[EmbeddedStore, str], empty: EmbeddedStore, tmp_path: Path
) -> None:
    store, root = origin
    down = _free_url()
    with (
        GatewayServer(store) as good,
        SourceChain(empty, [GatewayStore(down), GatewayStore(good.url)]) as chain,
    ):
        chain.get_file(root, tmp_path / "out.bin")
        outcomes = [r.outcome for r in chain.last_report]

    assert (tmp_path / "out.bin").read_bytes() == DATA
    assert outcomes == [MISSING, DOWN, SERVED]


def test_content_nowhere_lists_every_source(empty: EmbeddedStore, tmp_path: Path) -> None:
    absent = str(Cid.for_block(b"nobody has this", version=1, codec=RAW))
    down = _free_url()
    with (
        GatewayServer(empty) as server,
        SourceChain(empty, [GatewayStore(server.url), GatewayStore(down)]) as chain,
        pytest.raises(ContentNotFoundError) as caught,
    ):
        chain.get_file(absent, tmp_path / "out.bin")

    assert not isinstance(caught.value, IntegrityError)
    assert all(name in str(caught.value) for name in (empty.describe(), server.url, down))
    assert _leftovers(tmp_path) == ["mine"]


def test_a_verified_root_declaring_more_than_allowed_stops_before_any_child(
    origin: tuple[EmbeddedStore, str], tmp_path: Path
) -> None:
    store, root = origin
    with (
        GatewayServer(store, car=False) as server,
        GatewayStore(server.url) as gateway,
        pytest.raises(ContentTooLargeError, match=f"larger than the {len(DATA) - 1} bytes"),
    ):
        gateway.get_file(root, tmp_path / "out.bin", max_size=len(DATA) - 1)

    assert [fmt for _, _, fmt in server.requests] == ["car", "raw"]  # the root alone
    assert not (tmp_path / "out.bin").exists()


@pytest.mark.parametrize("car", [True, False])
def test_a_dag_far_larger_than_declared_stops_after_one_chunk(
    empty: EmbeddedStore, tmp_path: Path, car: bool
) -> None:
    root, blocks = lying_dag(40)  # 10 MiB behind a 1-byte declaration
    with (
        GatewayServer(empty, extra=blocks, car=car) as server,
        SourceChain(empty, [GatewayStore(server.url)]) as chain,
    ):
        with pytest.raises(ContentTooLargeError, match="larger than the 1 bytes the manifest declares"):
            chain.get_file(str(root), tmp_path / "out.bin", max_size=1)
        served = chain.last_report[1].blocks

    assert served <= 2  # the root and at most one chunk
    if not car:
        assert len(server.requests) <= 4  # the has probe, the refused CAR, the root, one leaf
    assert not (tmp_path / "out.bin").exists() and _leftovers(tmp_path) == ["mine"]


def test_rpc_urls_become_multiaddrs() -> None:
    assert rpc_multiaddr("http://127.0.0.1:5001") == "/ip4/127.0.0.1/tcp/5001/http"
    assert rpc_multiaddr("https://ipfs.example:443/") == "/dns/ipfs.example/tcp/443/https"
    assert rpc_multiaddr("http://[::1]:5001") == "/ip6/::1/tcp/5001/http"
    assert rpc_multiaddr("/ip4/127.0.0.1/tcp/5001/http") == "/ip4/127.0.0.1/tcp/5001/http"
    with pytest.raises(IpfsError, match="nothing more"):
        rpc_multiaddr("http://127.0.0.1:5001/api/v0")


@pytest.fixture
def jsipfs_by_url(jsipfs_daemon: JsIpfsDaemon) -> Iterator[KuboStore]:
    with KuboStore(f"http://127.0.0.1:{jsipfs_daemon.api_port}", timeout=20) as store:
        yield store


def test_jsipfs_by_http_url_is_a_source(
    jsipfs_by_url: KuboStore, empty: EmbeddedStore, tmp_path: Path
) -> None:
    source = tmp_path / "model.bin"
    source.write_bytes(DATA)
    root = jsipfs_by_url.add_file(source)
    with (
        GatewayServer(empty) as lacking,
        SourceChain(empty, [GatewayStore(lacking.url), jsipfs_by_url]) as chain,
    ):
        chain.get_file(root, tmp_path / "out.bin", max_size=len(DATA))
        outcomes = [r.outcome for r in chain.last_report]

    assert (tmp_path / "out.bin").read_bytes() == DATA
    assert outcomes == [MISSING, MISSING, SERVED]


def test_a_jsipfs_node_that_lacks_the_content_is_passed_over_without_waiting_out_its_timeout(
    jsipfs_daemon: JsIpfsDaemon, empty: EmbeddedStore, tmp_path: Path
) -> None:
    data = os.urandom(3 * CHUNK)  # content js-ipfs never saw: it answers a missing block only by timing out
    (tmp_path / "fresh.bin").write_bytes(data)
    store = EmbeddedStore(tmp_path / "origin")
    root = store.add_file(tmp_path / "fresh.bin")
    with (
        KuboStore(f"http://127.0.0.1:{jsipfs_daemon.api_port}", timeout=60) as lacking,
        GatewayServer(store) as honest,
        SourceChain(empty, [lacking, GatewayStore(honest.url)]) as chain,
    ):
        started = time.monotonic()
        chain.get_file(root, tmp_path / "out.bin", max_size=len(data))
        elapsed = time.monotonic() - started
        outcomes = [r.outcome for r in chain.last_report]

    assert (tmp_path / "out.bin").read_bytes() == data
    assert outcomes == [MISSING, MISSING, SERVED]
    assert elapsed < 30, f"the lacking node was waited on for {elapsed:.0f} s (its timeout is 60 s)"


def test_open_store_reads_through_the_configured_gateways(
    origin: tuple[EmbeddedStore, str], tmp_path: Path
) -> None:
    from registry.backends import open_store
    from registry.config import Settings

    store, root = origin
    down = _free_url()
    with GatewayServer(store) as server:
        settings = Settings.load(
            data_dir=tmp_path / "data", ipfs="embedded", gateways=[down, server.url], environ={}
        )
        with open_store(settings) as opened:
            assert isinstance(opened, SourceChain)
            opened.get_file(root, tmp_path / "out.bin", max_size=len(DATA))
            assert [r.source for r in opened.last_report][1:] == [f"gateway {down}", f"gateway {server.url}"]
    assert (tmp_path / "out.bin").read_bytes() == DATA


def test_settings_take_a_kubo_rpc_url(tmp_path: Path) -> None:
    from registry.config import Settings
    from registry.errors import ConfigError

    assert (
        Settings.load(data_dir=tmp_path, ipfs="http://127.0.0.1:5001", environ={}).ipfs
        == "http://127.0.0.1:5001"
    )
    with pytest.raises(ConfigError, match="--ipfs 'http://127.0.0.1:5001/api/v0' is not understood"):
        Settings.load(data_dir=tmp_path, ipfs="http://127.0.0.1:5001/api/v0", environ={})
