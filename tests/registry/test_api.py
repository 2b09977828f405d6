"""The HTTP service on the embedded backends: typed responses, itemised mismatches, clean errors on bad input."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from registry.api.main import create_app
from tests.registry.conftest import write_artifacts


@pytest.fixture
def client(embedded_settings) -> Iterator[TestClient]:
    """A client of the service's operator: it sends the API token the first start wrote."""
    with TestClient(create_app(embedded_settings)) as test_client:
        token = (embedded_settings.data_dir / "api-token").read_text().strip()
        test_client.headers["Authorization"] = f"Bearer {token}"
        yield test_client


def _upload(paths: list[Path]) -> list[tuple[str, tuple[str, bytes]]]:
    return [("files", (p.name, p.read_bytes())) for p in paths]


@pytest.fixture
def published(client: TestClient, tmp_path: Path) -> dict:
    artifacts = write_artifacts(tmp_path / "owner")
    response = client.post(
        "/records",
        files=_upload([a.path for a in artifacts]),
        data={"roles": ["model", "trigger"], "name": "tiny"},
    )
    assert response.status_code == 201, response.text
    return {"body": response.json(), "paths": [a.path for a in artifacts]}


def test_publish_then_read_the_record(client: TestClient, published: dict) -> None:
    record_id = published["body"]["record_id"]

    response = client.get(f"/records/{record_id}")

    assert response.status_code == 200
    body = response.json()
    assert body["root"] == published["body"]["root"]
    assert [(a["path"], a["role"]) for a in body["artifacts"]] == [
        ("model.pt", "model"),
        ("triggers.npz", "trigger"),
    ]


def test_verify_intact_uploads(client: TestClient, published: dict) -> None:
    record_id = published["body"]["record_id"]

    response = client.post(f"/records/{record_id}/verify", files=_upload(published["paths"]))

    assert response.status_code == 200
    assert response.json()["ok"] is True
    assert response.json()["intact"] == ["model.pt", "triggers.npz"]


def test_verify_itemises_a_tampered_upload(client: TestClient, published: dict) -> None:
    record_id = published["body"]["record_id"]
    model, trigger = published["paths"]
    data = bytearray(model.read_bytes())
    data[0] ^= 1

    response = client.post(
        f"/records/{record_id}/verify",
        files=[("files", ("model.pt", bytes(data))), ("files", ("triggers.npz", trigger.read_bytes()))],
    )

    body = response.json()
    assert body["ok"] is False
    assert [(m["path"], m["fields"]) for m in body["mismatched"]] == [("model.pt", ["sha256", "cid"])]


def test_unknown_record_is_404_with_the_reason(client: TestClient) -> None:
    response = client.get("/records/42")

    assert response.status_code == 404
    assert response.json()["detail"].startswith("record 42 is not registered on chain ")


def test_malformed_reference_is_404(client: TestClient) -> None:
    response = client.get("/records/not-a-record")

    assert response.status_code == 404
    assert "is neither a record id nor a 0x-prefixed 32-byte Merkle root" in response.json()["detail"]


def test_publish_with_roles_missing_is_rejected_and_stores_nothing(
    client: TestClient, tmp_path: Path
) -> None:
    artifacts = write_artifacts(tmp_path / "owner")

    response = client.post("/records", files=_upload([a.path for a in artifacts]), data={"roles": ["model"]})

    assert response.status_code == 422
    assert response.json()["detail"] == "2 files but 1 roles: give one role per file"
    assert client.get("/records/1").status_code == 404


def test_publish_with_duplicate_names_is_rejected(client: TestClient, tmp_path: Path) -> None:
    model = write_artifacts(tmp_path / "owner")[0].path

    response = client.post("/records", files=_upload([model, model]), data={"roles": ["model", "model"]})

    assert response.status_code == 422
    assert response.json()["detail"] == "two uploads are named 'model.pt'"


def test_publish_without_files_is_rejected(client: TestClient) -> None:
    response = client.post("/records", data={"roles": ["model"]})

    assert response.status_code == 422


def test_cid_of_an_upload(client: TestClient) -> None:
    response = client.post("/cid", files={"file": ("hello.txt", b"hello world\n")}, params={"cid_version": 1})

    assert response.status_code == 200
    assert response.json() == {
        "cid": "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4",
        "size": 12,
        "sha256": "a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447",
    }


@pytest.mark.parametrize(
    ("params", "status", "cid"),
    [
        ({"profile": "unixfs-v1-2025"}, 200, "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"),
        ({"profile": "unixfs-v0-2015"}, 200, "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD"),
        ({"profile": "unixfs-v9"}, 422, None),
    ],
)
def test_cid_under_an_import_profile(client: TestClient, params: dict, status: int, cid: str | None) -> None:
    response = client.post("/cid", files={"file": ("hello.txt", b"hello world")}, params=params)

    assert response.status_code == status, response.text
    if cid is not None:
        assert response.json()["cid"] == cid


def test_a_record_lists_each_artifact_with_its_import_profile(client: TestClient, published: dict) -> None:
    response = client.get(f"/records/{published['body']['record_id']}")

    assert {a["profile"] for a in response.json()["artifacts"]} == {"unixfs-v0-2015"}


def test_watermark_verify_says_copy_for_the_watermarked_model(client: TestClient, watermark_files) -> None:
    files = [
        ("model", ("suspect.pt", watermark_files.watermarked.read_bytes())),
        ("key", ("key.wmk", watermark_files.key.read_bytes())),
    ]
    response = client.post("/watermark/verify", files=files)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["is_copy"] and body["wsr"] == 1.0 and body["p_value"] < 1e-4


def test_watermark_verify_rejects_a_key_that_is_not_one(client: TestClient, watermark_files) -> None:
    files = [
        ("model", ("suspect.pt", watermark_files.base.read_bytes())),
        ("key", ("key.wmk", b"LMSEAL\x01sealed bytes")),
    ]
    response = client.post("/watermark/verify", files=files)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "urn:ledgermark:problem:bad-request",
        "code": "bad-request",
        "title": "Bad Request",
        "status": 400,
        "detail": "not a watermark key: the file is not UTF-8 JSON (is it still sealed?)",
    }
