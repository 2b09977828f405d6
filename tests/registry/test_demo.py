"""`make demo` is the main job: it must run end to end and say what it proved."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from registry import demo


@pytest.mark.slow
def test_the_demo_runs_every_step_and_settles_the_dispute(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert demo.run(tmp_path / "demo") == 0
    out = capsys.readouterr().out
    assert "triggers still predicted correctly: True" in out
    assert out.count("(sha256, CID and on-chain Merkle proof all match)") == 3
    assert "mismatch: model.pt (model): sha256 expected" in out
    assert "refused: record 42 is not registered" in out
    assert "copy: the model carries the watermark" in out
    assert "dispute 1 upheld; bond of 0.1 ETH returned to" in out
    serve = out.rstrip().splitlines()[-1].split()
    assert serve[:2] == [".venv/bin/ledgermark", "--data-dir"] and serve[3:] == ["serve", "--port", "8000"]
    assert_the_printed_service_shows_the_demo(Path(serve[2]))


def assert_the_printed_service_shows_the_demo(data_dir: Path) -> None:
    """What the last line serves: the demo's record on the list page, its dispute on its own page."""
    from fastapi.testclient import TestClient

    from registry.api.main import create_app
    from registry.config import Settings

    with TestClient(create_app(Settings.load(data_dir=data_dir))) as client:
        deadline = time.monotonic() + 60
        while "digits-cnn" not in client.get("/").text and time.monotonic() < deadline:
            time.sleep(0.2)  # the background index catches up with the chain
        assert "digits-cnn" in client.get("/").text
        dispute = client.get("/dispute/1")
    assert dispute.status_code == 200 and "upheld" in dispute.text.lower()
