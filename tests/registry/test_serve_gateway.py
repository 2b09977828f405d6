"""`ledgermark serve` as an IPFS Trustless Gateway: a real uvicorn server, real published content, real HTTP.

Every served byte is checked the way a buyer would: a raw block against its CID, a CAR block by block against
the DAG walked from the store. Errors are problem-details bodies that never name a server path.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from ipfs import car as carlib
from ipfs import unixfs
from ipfs.cid import RAW, Cid, decode_varint
from ipfs.store import ContentStore
from registry import backends as backendslib
from registry.api import gateway
from registry.api.main import create_app
from registry.config import CHAIN_EMBEDDED, IPFS_EMBEDDED, Settings
from tests.fixtures import servers

MODEL_SIZE = 1_000_000  # four 256 KiB chunks under one root block
ABSENT = str(Cid.for_block(b"nobody stored this", version=0, codec=0x70))


@contextlib.contextmanager
def running_service(settings: Settings) -> Iterator[tuple[str, ContentStore]]:
    """The service's app under a real uvicorn on a free port; yields its base URL and its content store."""
    app = create_app(settings)
    with servers.serving(app) as url:
        yield url, app.state.backends.store


@pytest.fixture
def service(embedded_settings: Settings) -> Iterator[tuple[str, ContentStore]]:
    with running_service(embedded_settings) as running:
        yield running


@pytest.fixture
def http(service: tuple[str, ContentStore]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service[0], timeout=30) as client:
        yield client


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "owner" / "model.pt"
    path.parent.mkdir(parents=True)
    path.write_bytes(np.random.default_rng(7).bytes(MODEL_SIZE))
    return path


@pytest.fixture
def model_cid(http: httpx.Client, model: Path, embedded_settings: Settings) -> str:
    """The model published through the service itself (POST /records), as an owner would."""
    token = (embedded_settings.data_dir / "api-token").read_text().strip()  # written by the first start
    response = http.post(
        "/records",
        files=[("files", ("model.pt", model.read_bytes()))],
        data={"roles": ["model"], "name": "m"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.text
    return next(a["cid"] for a in http.get("/records/1").json()["artifacts"] if a["path"] == "model.pt")


def dag_blocks(store: ContentStore, root: Cid) -> list[tuple[Cid, bytes]]:
    """The DAG in depth-first order, walked here from the store's blocks (not through the gateway)."""
    out, stack = [], [root]
    while stack:
        node = stack.pop()
        block = store.get_block(node)
        out.append((node, block))
        if node.codec != RAW:
            stack.extend(reversed(unixfs.decode_file_node(block).children))
    return out


def content_of(blocks: list[tuple[Cid, bytes]]) -> bytes:
    """A file's bytes from its blocks in depth-first order (leaves' data, in order)."""
    pieces = []
    for node, block in blocks:
        pieces.append(block if node.codec == RAW else unixfs.decode_file_node(block).data)
    return b"".join(pieces)


def read_car(
    data: bytes, expected: list[tuple[Cid, bytes]] | None = None
) -> tuple[bytes, list[tuple[Cid, bytes]]]:
    """The header and every section of a CARv1, parsed here; ``expected`` is also checked through
    ``ipfs.car.CarReader`` (what a buyer's client reads with), section by section in walk order."""
    size, pos = decode_varint(data, 0)
    header, pos = data[pos : pos + size], pos + size
    sections = []
    while pos < len(data):
        size, pos = decode_varint(data, pos)
        section, pos = data[pos : pos + size], pos + size
        name_size = 34 if section[:2] == b"\x12\x20" else 36  # CIDv0 multihash, or v1 + codec + multihash
        sections.append((Cid.from_bytes(section[:name_size]), section[name_size:]))
    assert pos == len(data)
    if expected is not None:
        reader = carlib.CarReader(iter([data]))
        assert [reader.take(cid) for cid, _ in expected] == [block for _, block in expected]
    return header, sections


# --------------------------------------------------------------------------- raw blocks


def test_raw_blocks_hash_to_their_cids(http: httpx.Client, service, model_cid: str) -> None:
    root = Cid.parse(model_cid)
    children = unixfs.decode_file_node(service[1].get_block(root)).children
    assert len(children) == 4

    for node in (root, *children):
        response = http.get(f"/ipfs/{node}", headers={"Accept": gateway.RAW})
        assert response.status_code == 200
        assert hashlib.sha256(response.content).digest() == node.digest
        assert response.headers["content-type"] == gateway.RAW


def test_raw_response_headers(http: httpx.Client, model_cid: str) -> None:
    response = http.get(f"/ipfs/{model_cid}", params={"format": "raw"})

    assert response.status_code == 200
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "public, max-age=29030400, immutable"
    assert response.headers["etag"] == f'"{model_cid}.raw"'
    assert response.headers["content-disposition"] == f'attachment; filename="{model_cid}.bin"'
    assert response.headers["vary"] == "Accept"
    assert "content-location" not in response.headers  # ?format said it already


def test_accept_picks_the_best_acceptable_type(http: httpx.Client, model_cid: str) -> None:
    accept = f"text/html, {gateway.CAR};dups=y;q=0.9, {gateway.RAW};q=0.5, */*;q=0.1"

    response = http.get(f"/ipfs/{model_cid}", headers={"Accept": accept})

    assert response.status_code == 200
    assert response.headers["content-type"] == gateway.RAW  # the CAR variant with duplicates is not served
    assert response.headers["content-location"] == f"/ipfs/{model_cid}?format=raw"


def test_unchanged_content_answers_304(http: httpx.Client, model_cid: str) -> None:
    first = http.get(f"/ipfs/{model_cid}", params={"format": "raw"})

    again = http.get(
        f"/ipfs/{model_cid}", params={"format": "raw"}, headers={"If-None-Match": first.headers["etag"]}
    )

    assert again.status_code == 304
    assert again.content == b""


# --------------------------------------------------------------------------- CAR streams


def test_car_holds_every_block_of_the_dag_in_dfs_order(
    http: httpx.Client, service, model: Path, model_cid: str
) -> None:
    root = Cid.parse(model_cid)

    response = http.get(f"/ipfs/{model_cid}", params={"format": "car"})

    assert response.status_code == 200
    assert response.headers["content-type"] == gateway.CAR_CONTENT_TYPE
    assert response.headers["content-disposition"] == f'attachment; filename="{model_cid}.car"'
    expected = dag_blocks(service[1], root)
    header, blocks = read_car(response.content, expected)
    link = b"\x00" + root.to_bytes()  # dag-cbor {"roots": [root], "version": 1}, root as tag 42
    assert header == b"\xa2\x65roots\x81\xd8\x2a\x58" + bytes([len(link)]) + link + b"\x67version\x01"
    assert blocks == expected
    assert all(hashlib.sha256(block).digest() == cid.digest for cid, block in blocks)
    assert content_of(blocks) == model.read_bytes()


def test_car_of_raw_leaves_cidv1(http: httpx.Client, service, model: Path) -> None:
    cid = service[1].add_file(model, cid_version=1)

    response = http.get(f"/ipfs/{cid}", headers={"Accept": f"{gateway.CAR}; version=1; order=dfs"})

    assert response.status_code == 200
    _, blocks = read_car(response.content)
    assert [c.codec for c, _ in blocks[1:]] == [RAW] * (len(blocks) - 1)
    assert content_of(blocks) == model.read_bytes()


def test_car_sends_a_repeated_block_once(http: httpx.Client, service, tmp_path: Path) -> None:
    zeros = tmp_path / "zeros.bin"
    zeros.write_bytes(bytes(4 << 18))  # four identical 256 KiB chunks: one leaf block, linked four times
    root = Cid.parse(service[1].add_file(zeros))
    children = unixfs.decode_file_node(service[1].get_block(root)).children

    response = http.get(f"/ipfs/{root}", params={"format": "car"})

    assert response.headers["content-type"].endswith("dups=n")
    assert [cid for cid, _ in read_car(response.content)[1]] == [root, children[0]]
    assert set(children) == {children[0]} and len(children) == 4


@pytest.mark.parametrize(("scope", "count"), [("block", 1), ("entity", 5), ("all", 5)])
def test_dag_scope(http: httpx.Client, model_cid: str, scope: str, count: int) -> None:
    response = http.get(f"/ipfs/{model_cid}", params={"format": "car", "dag-scope": scope})

    assert response.status_code == 200
    assert len(read_car(response.content)[1]) == count
    assert response.headers["etag"] == f'"{model_cid}.car.{scope}.dfs.n"'


def test_head_answers_headers_without_a_body(http: httpx.Client, service, model_cid: str) -> None:
    root_block = service[1].get_block(Cid.parse(model_cid))

    raw = http.head(f"/ipfs/{model_cid}", params={"format": "raw"})
    car = http.head(f"/ipfs/{model_cid}", headers={"Accept": gateway.CAR})
    missing = http.head(f"/ipfs/{Cid.for_block(b'absent', version=1, codec=RAW)}", params={"format": "raw"})

    assert (raw.status_code, raw.content, int(raw.headers["content-length"])) == (200, b"", len(root_block))
    assert (car.status_code, car.content, car.headers["content-type"]) == (200, b"", gateway.CAR_CONTENT_TYPE)
    assert "content-length" not in car.headers
    assert missing.status_code == 404


def test_a_buyer_reads_through_the_gateway_store(
    service, model: Path, model_cid: str, tmp_path: Path
) -> None:
    from ipfs.gateway import GatewayStore

    with GatewayStore(service[0]) as remote:
        digest = remote.get_file(model_cid, tmp_path / "buyer" / "model.pt")
        assert remote.has(model_cid) and not remote.has(ABSENT)

    assert (tmp_path / "buyer" / "model.pt").read_bytes() == model.read_bytes()
    assert digest.sha256 == hashlib.sha256(model.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("path", "params", "headers", "status"),
    [
        ("/ipfs/not-a-cid", {"format": "raw"}, {}, 400),
        ("/ipfs/Qm" + "0" * 44, {"format": "car"}, {}, 400),
        ("/ipfs/b" + "a" * 300, {"format": "raw"}, {}, 400),
        (f"/ipfs/{ABSENT}", {"format": "raw"}, {}, 404),
        (f"/ipfs/{ABSENT}", {"format": "car"}, {}, 404),
        (f"/ipfs/{ABSENT}", {}, {"Accept": gateway.CAR}, 404),
        ("/ipfs/{model}", {"format": "html"}, {}, 406),
        ("/ipfs/{model}", {"format": "dag-json"}, {}, 406),
        ("/ipfs/{model}", {}, {"Accept": "text/html"}, 406),
        ("/ipfs/{model}", {}, {"Accept": "*/*"}, 406),
        ("/ipfs/{model}", {}, {"Accept": f"{gateway.CAR}; version=2"}, 406),
        ("/ipfs/{model}", {"format": "car", "car-dups": "y"}, {}, 406),
        ("/ipfs/{model}", {}, {"Accept": ""}, 400),
        ("/ipfs/{model}", {"format": "car", "dag-scope": "everything"}, {}, 400),
        ("/ipfs/{model}", {"format": "car", "entity-bytes": "0:99"}, {}, 400),
    ],
)
def test_refusals_are_problem_details_without_server_paths(
    http: httpx.Client,
    embedded_settings: Settings,
    model_cid: str,
    path: str,
    params: dict,
    headers: dict,
    status: int,
) -> None:
    response = http.get(path.format(model=model_cid), params=params, headers=headers)

    assert response.status_code == status
    assert response.headers["content-type"] == gateway.PROBLEM
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    assert str(embedded_settings.data_dir) not in response.text
    assert "/tmp" not in response.text


def test_a_block_altered_on_disk_is_never_served(
    http: httpx.Client, service, embedded_settings: Settings, model_cid: str
) -> None:
    root = Cid.parse(model_cid)
    first_leaf = unixfs.decode_file_node(service[1].get_block(root)).children[0]
    packs = (embedded_settings.blocks_dir / "packs").glob("*.pack")
    pack = max(packs, key=lambda p: p.stat().st_size)  # the model's import: the manifest's pack is tiny
    data = bytearray(pack.read_bytes())
    data[0] ^= 1  # an import's pack starts with its first leaf
    pack.write_bytes(bytes(data))

    raw = http.get(f"/ipfs/{first_leaf}", params={"format": "raw"})
    assert raw.status_code == 502
    assert str(embedded_settings.data_dir) not in raw.text

    with pytest.raises(httpx.HTTPError):  # the stream breaks off instead of delivering the altered block
        http.get(f"/ipfs/{model_cid}", params={"format": "car"})


# --------------------------------------------------------------------------- the service around it


def test_openapi_documents_the_gateway(http: httpx.Client) -> None:
    spec = http.get("/openapi.json").json()

    for method in ("get", "head"):
        responses = spec["paths"]["/ipfs/{cid}"][method]["responses"]
        assert set(responses["200"]["content"]) == {gateway.RAW, gateway.CAR_CONTENT_TYPE}
        for status in ("400", "404", "406"):
            assert gateway.PROBLEM in responses[status]["content"]


@pytest.mark.daemon
def test_content_is_served_while_the_chain_is_down(anvil_node, tmp_path: Path, model: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "state",
        chain=anvil_node.url,
        ipfs=IPFS_EMBEDDED,
        private_key=anvil_node.first_key,
    )
    backendslib.deploy_on(settings)
    with running_service(settings) as (url, store), httpx.Client(base_url=url, timeout=30) as http:
        cid = store.add_file(model)
        anvil_node.stop()

        response = http.get(f"/ipfs/{cid}", params={"format": "car"})

        assert response.status_code == 200
        assert content_of(read_car(response.content)[1]) == model.read_bytes()
        assert http.get("/records/1").status_code != 200  # the chain really is gone


@pytest.mark.parametrize(
    ("fmt", "body"),
    [("raw", b""), ("car", b"\x19\xa2\x65roots\x81\xd8\x2a\x45\x00\x01\x55\x00\x00\x67version\x01")],
)
def test_probe_path_answers_as_a_trustless_gateway(http: httpx.Client, fmt: str, body: bytes) -> None:
    response = http.get(f"/ipfs/{gateway.PROBE_CID}", params={"format": fmt})

    assert response.status_code == 200
    assert response.content == body
    assert http.head(f"/ipfs/{gateway.PROBE_CID}", params={"format": fmt}).status_code == 200


def test_concurrent_downloads_each_get_the_whole_dag(service, model_cid: str) -> None:
    def download(_: int) -> bytes:
        with httpx.Client(base_url=service[0], timeout=60) as client:
            return client.get(f"/ipfs/{model_cid}", params={"format": "car"}).content

    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        bodies = list(pool.map(download, range(6)))

    assert len(set(bodies)) == 1
    assert len(read_car(bodies[0])[1]) == 5


@pytest.mark.daemon
def test_a_kubo_backed_service_serves_its_node_content(jsipfs_daemon, tmp_path: Path, model: Path) -> None:
    """On a Kubo RPC store, a missing CID is 404 once ``has`` answers. Kubo answers at once (``--offline``);
    js-ipfs ignores that flag and waits for the store's timeout, shortened here to keep the test quick."""
    settings = Settings(data_dir=tmp_path / "state", chain=CHAIN_EMBEDDED, ipfs=jsipfs_daemon.multiaddr)
    with running_service(settings) as (url, store), httpx.Client(base_url=url, timeout=60) as http:
        cid = store.add_file(model)
        store.timeout = 2  # type: ignore[attr-defined]  # a KuboStore

        served = http.get(f"/ipfs/{cid}", params={"format": "car"})
        missing = http.get(f"/ipfs/{ABSENT}", params={"format": "car"})

    assert served.status_code == 200
    assert content_of(read_car(served.content)[1]) == model.read_bytes()
    assert missing.status_code == 404
    assert "127.0.0.1" not in missing.text and "/ip4/" not in missing.text
