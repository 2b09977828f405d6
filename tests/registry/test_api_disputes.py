"""A dispute settled over HTTP from end to end, on real watermarked models: the claimant's service publishes with a
sealed key, opens (only a commitment leaves), reveals; an arbiter's service (another signer on the same chain and
store) reviews and votes; anyone finalises. Every step is the CLI's flow function behind a route."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from registry import dispute as dispute_flow
from registry.api.main import create_app
from registry.config import Settings
from tests.conftest import WatermarkFiles
from tests.registry.test_dispute_evidence import as_arbiter

TOKEN = "the-claimants-service-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def client(embedded_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("LEDGERMARK_API_TOKEN", TOKEN)
    with TestClient(create_app(embedded_settings), headers=AUTH) as test_client:
        yield test_client


@pytest.fixture
def claimant_record(client: TestClient, watermark_files: WatermarkFiles) -> dict:
    """The owner's watermarked model published with its sealed key, through the service."""
    response = client.post(
        "/records",
        files=[
            ("files", ("model.pt", watermark_files.watermarked.read_bytes())),
            ("watermark_key", ("key.wmk", watermark_files.key.read_bytes())),
        ],
        data={"roles": ["model"], "name": "owner"},
    )
    assert response.status_code == 201, response.text
    return response.json()


def _open(client: TestClient, record: dict, files: WatermarkFiles) -> dict:
    response = client.post(
        "/disputes",
        files=[
            ("model", ("stolen.pt", files.watermarked.read_bytes())),
            ("key", ("key.wmk", files.key.read_bytes())),
        ],
        data={"claimant_record": str(record["record_id"])},
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_a_dispute_over_http_from_open_to_upheld(
    client: TestClient, claimant_record: dict, watermark_files: WatermarkFiles
) -> None:
    opened = _open(client, claimant_record, watermark_files)
    dispute_id = opened["dispute_id"]
    assert opened["verdict"].startswith("copy") and opened["wsr"] == 1.0

    commitment = client.get(f"/disputes/{dispute_id}/report").json()
    assert commitment["stage"] == "commitment" and commitment["cid"] == opened["evidence_cid"]
    assert commitment["document"]["report_sha256"] == opened["evidence_sha256"]
    public = {"format", "version", "report_sha256", "facts", *dispute_flow.SUMMARY_FIELDS}
    assert set(commitment["document"]) == public  # no key bits, labels or key CID before the reveal

    revealed = client.post(
        f"/disputes/{dispute_id}/reveal",
        files=[("key", ("key.wmk", watermark_files.key.read_bytes()))],
        data={"data_key": claimant_record["sealed_key_data_key"]},
    )
    assert revealed.status_code == 200, revealed.text
    full = client.get(f"/disputes/{dispute_id}/report").json()
    assert full["stage"] == "revealed" and full["cid"] == revealed.json()["report_cid"]
    assert full["document"]["format"] == "ledgermark-evidence"

    client.app.state.backends = as_arbiter(client.app.state.backends)  # the arbiter's own service
    reviewed = client.post(
        f"/disputes/{dispute_id}/review",
        files=[("model", ("stolen.pt", watermark_files.watermarked.read_bytes()))],
    )
    assert reviewed.status_code == 200, reviewed.text
    assert reviewed.json()["recommendation"] == "uphold"
    voted = client.post(
        f"/disputes/{dispute_id}/votes", json={"uphold": True, "report_cid": reviewed.json()["report_cid"]}
    )
    assert voted.status_code == 201, voted.text
    finalised = client.post(f"/disputes/{dispute_id}/finalise", params={"skip_wait": True})
    assert finalised.status_code == 200, finalised.text
    assert finalised.json()["outcome"] == "upheld"

    shown = client.get(f"/disputes/{dispute_id}").json()
    assert shown["status"] == "upheld" and shown["votes"]["uphold"] == 1
    assert shown["key_check"].startswith("ok: ") and shown["report_check"].startswith("ok: ")
    assert shown["links"] == {
        "self": f"/disputes/{dispute_id}",
        "report": f"/disputes/{dispute_id}/report",
        "page": f"/dispute/{dispute_id}",
    }
    arbiter = shown["reports"][0]["arbiter"]
    review_report = client.get(f"/disputes/{dispute_id}/report", params={"arbiter": arbiter}).json()
    assert review_report["stage"] == "review" and review_report["cid"] == reviewed.json()["report_cid"]
    listed = client.get("/disputes").json()
    assert listed["total"] == 1 and [d["dispute_id"] for d in listed["items"]] == [dispute_id]


def test_a_reveal_with_a_wrong_data_key_is_refused_before_any_transaction(
    client: TestClient, claimant_record: dict, watermark_files: WatermarkFiles
) -> None:
    dispute_id = _open(client, claimant_record, watermark_files)["dispute_id"]
    wrong = "11" * 32

    response = client.post(
        f"/disputes/{dispute_id}/reveal",
        files=[("key", ("key.wmk", watermark_files.key.read_bytes()))],
        data={"data_key": wrong},
    )

    assert response.status_code == 409, response.text
    assert "the data key does not open record" in response.json()["detail"]
    assert client.get(f"/disputes/{dispute_id}").json()["key_cid"] is None


@pytest.mark.parametrize(
    ("report_cid", "detail"),
    [
        ("/etc/passwd", "report_cid '/etc/passwd' is not a CID"),
        (
            "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4",
            "report_cid bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4 is not pinned",
        ),
    ],
    ids=["a-server-path", "an-unpinned-cid"],
)
def test_a_vote_must_cite_a_pinned_report_by_cid(client: TestClient, report_cid: str, detail: str) -> None:
    response = client.post("/disputes/1/votes", json={"uphold": True, "report_cid": report_cid})

    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith(detail)


def test_an_unknown_dispute_is_404(client: TestClient) -> None:
    response = client.get("/disputes/7")

    assert response.status_code == 404
    assert response.json()["code"] == "dispute-not-found"
