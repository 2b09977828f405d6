"""Restart the service, its chain and its store: every record, pin, dispute and index entry is still there.

Runs on the default backends (a managed Anvil whose state lives in the data dir, the embedded block store): the
service starts them and stops them with itself, so a second service life starts all three again from disk.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from registry import backends as backendslib
from registry import dispute as flow
from registry.api.main import create_app
from registry.config import Settings
from tests.conftest import WatermarkFiles
from tests.registry.test_dispute_evidence import publish_with_key, stolen_copy

pytestmark = pytest.mark.daemon


def _indexed(client: TestClient, record_id: int, dispute_id: int, timeout_s: float = 60) -> None:
    """Wait until the service's background index shows the record and its dispute."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        listed = client.get("/records").json()["items"]
        disputes = client.get("/disputes").json()["items"]
        if any(r["record_id"] == record_id for r in listed) and any(
            d["dispute_id"] == dispute_id for d in disputes
        ):
            return
        time.sleep(0.2)
    raise AssertionError("the index did not catch up")


def _what_a_reader_sees(client: TestClient, record_id: int, dispute_id: int) -> dict[str, Any]:
    return {
        "list": client.get("/records").json()["items"],
        "search": client.get("/records", params={"q": "owner"}).json()["items"],
        "record": client.get(f"/records/{record_id}").json(),
        "disputes": client.get("/disputes").json()["items"],
        "dispute": client.get(f"/disputes/{dispute_id}").json(),
        "page": client.get(f"/record/{record_id}").status_code,
    }


def test_records_pins_disputes_and_the_index_survive_a_restart(
    watermark_files: WatermarkFiles, tmp_path: Path
) -> None:
    settings = Settings.load(data_dir=tmp_path / "owner")  # the defaults: local chain, embedded store
    with backendslib.open_backends(settings) as backends:
        record, _ = publish_with_key(backends, watermark_files, tmp_path)
        plaintext = watermark_files.key.read_bytes()
        stolen = stolen_copy(watermark_files, tmp_path)
        claim = flow.claim(backends, str(record.record_id), stolen, plaintext, report_dir=tmp_path / "claim")
        pins = sorted(backends.store.pins())
    dispute_id = claim.dispute.dispute_id

    with TestClient(create_app(settings)) as client:
        _indexed(client, record.record_id, dispute_id)
        before = _what_a_reader_sees(client, record.record_id, dispute_id)
    index_file = settings.index_path
    assert index_file.stat().st_size > 0

    with TestClient(create_app(settings)) as client:  # chain, store and index all start again from disk
        after = _what_a_reader_sees(client, record.record_id, dispute_id)
        ready = client.get("/ready")

    assert after == before
    assert ready.status_code == 200, ready.text
    assert after["record"]["root"] == "0x" + record.root.hex()
    assert [d["dispute_id"] for d in after["disputes"]] == [dispute_id]
    assert after["page"] == 200
    with backendslib.open_backends(settings) as backends:
        assert sorted(backends.store.pins()) == pins
        assert backends.disputes.dispute(dispute_id).claimant_record == record.record_id
