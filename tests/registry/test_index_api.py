"""GET /records and GET /records/{reference}, served from the index the service keeps in step with the chain."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from registry import backends as backendslib
from registry.api import dependencies
from registry.api.main import create_app
from registry.config import Settings
from registry.index import RecordIndex
from registry.index import detail as detaillib
from tests.registry.test_index import publish
from verifier.integrity import merkle


@pytest.fixture
def client(embedded_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(embedded_settings)) as test_client:
        yield test_client


def publish_in(client: TestClient, folder: Path, name: str, **options: Any) -> int:
    """Publish through the service's own backends (the chain client serves one caller at a time)."""
    with dependencies._backends_lock:
        return publish(client.app.state.backends, folder, name, **options)


def wait_indexed(client: TestClient, count: int, timeout_s: float = 30) -> None:
    """Until the follower thread has indexed ``count`` records with their manifests."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = client.app.state.index.status()
        if status.records >= count and status.manifests_missing == 0:
            return
        time.sleep(0.05)
    raise AssertionError(f"the index did not reach {count} records: {client.app.state.index.status()}")


@pytest.fixture
def family(client: TestClient, tmp_path: Path) -> dict[str, int]:
    base = publish_in(client, tmp_path / "a", "digits-cnn", card="Handwritten digits, a small CNN.")
    child = publish_in(client, tmp_path / "b", "digits-cnn-int8", parent=base)
    other = publish_in(client, tmp_path / "c", "speech-tiny")
    wait_indexed(client, 3)
    return {"base": base, "child": child, "other": other}


def test_list_filters_and_searches(client: TestClient, family: dict[str, int]) -> None:
    everything = client.get("/records").json()
    assert [r["record_id"] for r in everything["items"]] == [family["other"], family["child"], family["base"]]
    assert everything["total"] == 3 and everything["next_cursor"] is None

    assert [r["name"] for r in client.get("/records", params={"q": "handwritten"}).json()["items"]] == [
        "digits-cnn"
    ]
    children = client.get("/records", params={"parent": family["base"]}).json()
    assert [r["record_id"] for r in children["items"]] == [family["child"]]
    assert client.get("/records", params={"revoked": "true"}).json()["total"] == 0


def test_pages_follow_the_cursor(client: TestClient, family: dict[str, int]) -> None:
    first = client.get("/records", params={"limit": 2}).json()
    second = client.get("/records", params={"limit": 2, "cursor": first["next_cursor"]}).json()

    assert [r["record_id"] for r in first["items"] + second["items"]] == sorted(family.values(), reverse=True)
    assert second["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "status", "words"),
    [
        ({"owner": "0xnotanaddress"}, 400, "owner"),
        ({"cursor": "bogus"}, 400, "cursor"),
        ({"q": "!!!"}, 400, "search"),
        ({"limit": 0}, 422, "limit"),
        ({"parent": 2**70}, 422, "parent"),
    ],
)
def test_bad_parameters_are_problem_details(
    client: TestClient, params: dict[str, Any], status: int, words: str
) -> None:
    response = client.get("/records", params=params)

    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")
    assert words in response.text


def test_detail_has_proofs_transactions_lineage_and_storage(
    client: TestClient, family: dict[str, int]
) -> None:
    backends = client.app.state.backends
    body = client.get(f"/records/{family['child']}").json()

    assert body["indexed"] is True and body["name"] == "digits-cnn-int8"
    [artifact] = body["artifacts"]
    leaf, proof = bytes.fromhex(artifact["leaf"][2:]), [bytes.fromhex(p[2:]) for p in artifact["proof"]]
    root = bytes.fromhex(body["root"][2:])
    assert merkle.verify_proof(leaf, artifact["index"], body["leaf_count"], proof, root)
    with dependencies._backends_lock:
        assert backends.registry.verify_artifact(family["child"], root, leaf, artifact["index"], proof)
    assert artifact["stored"] is True
    assert [t["event"] for t in body["transactions"]] == ["ModelRegistered"]
    assert body["transactions"][0]["tx_hash"] == body["tx_hash"]
    assert body["lineage"]["edges"] == [
        {"parent": family["base"], "child": family["child"], "derivation": "fine-tune"}
    ]
    by_root = client.get(f"/records/{body['root']}").json()
    assert by_root["record_id"] == family["child"]


def test_unknown_record_is_a_404_problem(client: TestClient, family: dict[str, int]) -> None:
    response = client.get("/records/999")

    assert response.status_code == 404
    assert response.json()["type"].endswith("not-found")


def test_a_record_the_index_has_not_reached_is_read_from_the_chain(
    backends: backendslib.Backends, tmp_path: Path
) -> None:
    record_id = publish(backends, tmp_path / "a", "fresh", card="just published")

    body = detaillib.from_chain(backends, str(record_id))

    assert (body["indexed"], body["name"], body["record_id"]) == (False, "fresh", record_id)
    assert sorted(a["path"] for a in body["artifacts"]) == ["README.md", "model.pt"]
    index = RecordIndex.open(tmp_path / "index.sqlite3")
    index.sync(backends)
    indexed = detaillib.record_detail(index, backends.store, index.record(record_id))  # type: ignore[arg-type]
    assert {**body, "tx_hash": indexed["tx_hash"], "indexed": True} == {
        **indexed,
        "transactions": [],
    }, "the chain's answer is the index's, less what only the index knows"


def test_openapi_names_the_schemas_and_the_errors(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    listing = document["paths"]["/records"]["get"]
    detail = document["paths"]["/records/{reference}"]["get"]

    assert listing["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "RecordPageOut"
    )
    assert detail["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "RecordDetailOut"
    )
    assert {"400", "422"} <= set(listing["responses"]) and {"400", "404"} <= set(detail["responses"])
    assert "example" in document["components"]["schemas"]["RecordSummaryOut"]
