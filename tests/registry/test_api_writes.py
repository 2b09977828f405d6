"""The write API: the token guards every write and no read, publish carries every field the CLI has, downloads
send only verified bytes, and /health and /ready say what they checked."""

from __future__ import annotations

import concurrent.futures
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from registry import backends as backendslib
from registry import chain as chainlib
from registry import publish as publish_flow
from registry.api import auth
from registry.api.main import create_app
from registry.config import IPFS_EMBEDDED, Settings
from registry.errors import ConfigError
from tests.registry.conftest import files_under, write_artifacts
from verifier.integrity import sealing

TOKEN = "a-token-of-the-operator-0123456789"


@pytest.fixture
def app_client(embedded_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The service with its token from LEDGERMARK_API_TOKEN; the client sends no token unless a test does."""
    monkeypatch.setenv(auth.ENV, TOKEN)
    with TestClient(create_app(embedded_settings)) as client:
        yield client


AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _publish(client: TestClient, folder: Path, headers: dict[str, str] | None = None, **data: object):
    artifacts = write_artifacts(folder)
    files = [("files", (a.path.name, a.path.read_bytes())) for a in artifacts]
    form = {"roles": ["model", "trigger"], "name": "tiny", **data}
    return client.post("/records", files=files, data=form, headers=headers if headers is not None else AUTH)


# --------------------------------------------------------------------------- the token


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "unauthorized"),
        ({"Authorization": f"Basic {TOKEN}"}, 401, "unauthorized"),
        ({"Authorization": "Bearer not-the-token-at-all-000000"}, 403, "forbidden"),
        ({"Authorization": f"Bearer {TOKEN}x"}, 403, "forbidden"),
    ],
    ids=["none", "basic", "wrong", "longer"],
)
def test_a_write_without_the_token_is_refused_and_stores_nothing(
    app_client: TestClient, embedded_settings: Settings, tmp_path: Path, headers: dict, status: int, code: str
) -> None:
    store_before = files_under(embedded_settings.blocks_dir)

    response = _publish(app_client, tmp_path / "owner", headers)

    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code and response.json()["type"] == f"urn:ledgermark:problem:{code}"
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert files_under(embedded_settings.blocks_dir) == store_before
    assert app_client.get("/records/1").status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("POST", "/disputes", {"data": {"claimant_record": "1"}}),
        ("POST", "/disputes/1/reveal", {"data": {"data_key": "00"}}),
        ("POST", "/disputes/1/review", {}),
        ("POST", "/disputes/1/votes", {"json": {"uphold": True, "report_cid": "x"}}),
        ("POST", "/disputes/1/finalise", {}),
    ],
)
def test_every_dispute_write_needs_the_token(
    app_client: TestClient, method: str, path: str, kwargs: dict
) -> None:
    assert app_client.request(method, path, **kwargs).status_code == 401
    wrong = {"Authorization": "Bearer someone-elses-token-000000"}
    assert app_client.request(method, path, headers=wrong, **kwargs).status_code == 403


def test_reads_need_no_token(app_client: TestClient, tmp_path: Path) -> None:
    record_id = _publish(app_client, tmp_path / "owner").json()["record_id"]
    model = write_artifacts(tmp_path / "owner")[0].path

    assert app_client.get(f"/records/{record_id}").status_code == 200
    assert app_client.get(f"/records/{record_id}/artifacts/model.pt").status_code == 200
    verified = app_client.post(
        f"/records/{record_id}/verify", files=[("files", ("model.pt", model.read_bytes()))]
    )
    assert verified.status_code == 200 and verified.json()["intact"] == ["model.pt"]
    assert app_client.get("/disputes").json() == {"items": [], "total": 0, "next_before": None}


def test_the_first_start_writes_an_owner_only_token_file_and_reuses_it(tmp_path: Path) -> None:
    first = auth.load(tmp_path, environ={})
    path = tmp_path / auth.FILE_NAME

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first.value) >= 40 and first.source == str(path)
    assert auth.load(tmp_path, environ={}).value == first.value
    assert auth.load(tmp_path, environ={auth.ENV: TOKEN}).value == TOKEN


def test_a_token_file_others_can_read_or_a_short_token_stops_the_start(tmp_path: Path) -> None:
    auth.load(tmp_path, environ={})
    os.chmod(tmp_path / auth.FILE_NAME, 0o644)

    with pytest.raises(ConfigError, match=r"readable by other users \(mode 644\): `chmod 600 "):
        auth.load(tmp_path, environ={})
    with pytest.raises(
        ConfigError, match=r"^LEDGERMARK_API_TOKEN \(environment variable\) must hold one token"
    ):
        auth.load(tmp_path, environ={auth.ENV: "short"})


def test_serve_with_an_unusable_token_exits_2_naming_the_variable(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "registry", "--data-dir", str(tmp_path), "--chain", "embedded", "serve"]
    env = {**os.environ, auth.ENV: "too short"}

    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)

    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(
        "error: LEDGERMARK_API_TOKEN (environment variable) must hold one token of 16"
    )
    assert "Traceback" not in result.stderr


# --------------------------------------------------------------------------- publish


def test_publish_carries_parent_and_derivation_to_the_chain(app_client: TestClient, tmp_path: Path) -> None:
    parent = _publish(app_client, tmp_path / "base").json()["record_id"]
    child_folder = tmp_path / "child"
    write_artifacts(child_folder, seed=1)

    response = app_client.post(
        "/records",
        files=[("files", (p.name, p.read_bytes())) for p in sorted(child_folder.iterdir())],
        data={
            "roles": ["model", "trigger"],
            "name": "child",
            "parent": str(parent),
            "derivation": "quantize",
        },
        headers=AUTH,
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["parent_id"], body["derivation"]) == (parent, "quantize")
    record = app_client.app.state.backends.registry.record(body["record_id"])
    assert (record.parent_id, record.derivation) == (parent, chainlib.Derivation.QUANTIZE)
    lineage = app_client.get(f"/records/{body['record_id']}/lineage").json()
    assert [r["record_id"] for r in lineage["ancestry"]] == [body["record_id"], parent]


def test_publish_refuses_an_unknown_derivation(app_client: TestClient, tmp_path: Path) -> None:
    response = _publish(app_client, tmp_path / "owner", parent="1", derivation="steal")

    assert response.status_code == 422
    assert response.json()["code"] == "invalid-request" and "derivation" in response.json()["detail"]


def test_publish_seals_the_watermark_key_and_returns_the_data_key_it_does_not_keep(
    app_client: TestClient, embedded_settings: Settings, tmp_path: Path
) -> None:
    plaintext = b'{"a watermark key": "stand-in bytes: sealing does not parse them"}'
    artifacts = write_artifacts(tmp_path / "owner")
    files = [("files", (a.path.name, a.path.read_bytes())) for a in artifacts]

    response = app_client.post(
        "/records",
        files=[*files, ("watermark_key", ("key.wmk", plaintext))],
        data={"roles": ["model", "trigger"], "name": "sealed"},
        headers=AUTH,
    )

    assert response.status_code == 201, response.text
    body = response.json()
    data_key = bytes.fromhex(body["sealed_key_data_key"])
    assert body["watermark_key_hash"] == "0x" + publish_flow.key_hash(plaintext).hex()
    record = app_client.app.state.backends.registry.record(body["record_id"])
    assert record.watermark_key_hash == publish_flow.key_hash(plaintext)
    sealed = app_client.get(f"/records/{body['record_id']}/artifacts/watermark-key.sealed")
    assert sealed.status_code == 200 and sealing.unseal(sealed.content, data_key) == plaintext
    held = [f for f in embedded_settings.data_dir.rglob("*") if f.is_file()]
    assert not [
        f
        for f in held
        if plaintext in f.read_bytes() or body["sealed_key_data_key"].encode() in f.read_bytes()
    ]


# --------------------------------------------------------------------------- download


def test_download_sends_the_exact_bytes_with_their_digests(app_client: TestClient, tmp_path: Path) -> None:
    body = _publish(app_client, tmp_path / "owner").json()
    model = tmp_path / "owner" / "model.pt"
    entry = next(a for a in body["artifacts"] if a["path"] == "model.pt")

    response = app_client.get(f"/records/{body['record_id']}/artifacts/model.pt")

    assert response.status_code == 200
    assert response.content == model.read_bytes()
    assert response.headers["etag"] == f'"{entry["sha256"]}"'
    assert response.headers["x-ledgermark-cid"] == entry["cid"]


def test_download_of_tampered_content_is_409_and_sends_none_of_it(
    app_client: TestClient, embedded_settings: Settings, tmp_path: Path
) -> None:
    body = _publish(app_client, tmp_path / "owner").json()
    model = (tmp_path / "owner" / "model.pt").read_bytes()
    probe = model[100_000:100_064]  # inside the second chunk of the 300 kB model
    altered = 0
    for path in embedded_settings.blocks_dir.rglob("*"):
        if path.is_file() and probe in (data := path.read_bytes()):
            at = data.index(probe)
            path.write_bytes(data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :])
            altered += 1
    assert altered, "the test found no stored copy of the model's bytes to tamper with"

    response = app_client.get(f"/records/{body['record_id']}/artifacts/model.pt")

    assert response.status_code == 409, response.text[:300]
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "integrity-failed"
    assert model[:1000] not in response.content


def test_download_of_content_the_store_lost_is_404_naming_it(
    app_client: TestClient, embedded_settings: Settings, tmp_path: Path
) -> None:
    body = _publish(app_client, tmp_path / "owner").json()
    for path in embedded_settings.blocks_dir.rglob("*"):
        if path.is_file():
            path.unlink()  # the disk under the store was wiped

    response = app_client.get(f"/records/{body['record_id']}/artifacts/model.pt")

    assert response.status_code == 404, response.text
    assert response.json()["code"] == "content-not-found"


def test_download_of_an_unknown_artifact_is_404(app_client: TestClient, tmp_path: Path) -> None:
    record_id = _publish(app_client, tmp_path / "owner").json()["record_id"]

    response = app_client.get(f"/records/{record_id}/artifacts/nothing.bin")

    assert response.status_code == 404
    assert response.json()["detail"] == f"record {record_id} has no artifact named 'nothing.bin'"


# --------------------------------------------------------------------------- health and readiness


def test_health_and_ready_report_each_backend(app_client: TestClient, embedded_settings: Settings) -> None:
    assert app_client.get("/health").json() == {"status": "ok"}

    ready = app_client.get("/ready")

    assert ready.status_code == 200, ready.text
    checks = ready.json()["checks"]
    assert checks["chain"]["ok"] and checks["chain"]["detail"].startswith("block ")
    assert checks["store"]["ok"]
    assert str(embedded_settings.data_dir) not in ready.text


@pytest.mark.daemon
def test_ready_is_503_naming_the_backend_that_is_down(anvil_node, tmp_path: Path) -> None:
    """The chain node goes away under the running service (a real node, stopped): /ready says so, /health not."""
    settings = Settings(
        data_dir=tmp_path / "state", chain=anvil_node.url, ipfs=IPFS_EMBEDDED, account_index=0
    )
    with backendslib.open_backends(settings, deploy_if_missing=True):
        pass  # the contracts, deployed once as `ledgermark chain deploy` would

    with TestClient(create_app(settings)) as client:
        assert client.get("/ready").status_code == 200
        anvil_node.stop()
        response = client.get("/ready")
        assert client.get("/health").status_code == 200

    assert response.status_code == 503, response.text
    body = response.json()
    assert body["code"] == "not-ready" and body["detail"] == "not ready: chain"
    assert body["checks"]["chain"]["ok"] is False and body["checks"]["store"]["ok"] is True


def test_services_starting_at_once_on_one_data_dir_agree_on_one_token(tmp_path: Path) -> None:
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        tokens = set(pool.map(lambda _: auth.load(tmp_path, environ={}).value, range(16)))

    assert len(tokens) == 1
    assert (tmp_path / "api-token").read_text().strip() in tokens
    assert [p.name for p in tmp_path.iterdir()] == ["api-token"]  # no temp file left behind
