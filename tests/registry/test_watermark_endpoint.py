"""`ledgermark watermark verify --endpoint URL KEY`: the same verdict and exit codes as on a file, for a model
only reachable through a prediction API (the real reference server), and exit 2 when the endpoint is of no use."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from registry import supervisor
from registry.cli import app
from tests.conftest import WatermarkFiles
from tests.fixtures.model_endpoint import ScriptedEndpoint, json_body, serve_model

runner = CliRunner()


@pytest.fixture(scope="module")
def endpoints(
    watermark_files: WatermarkFiles, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """The watermarked model and the model before embedding, each behind `watermark serve-model`."""
    logs = tmp_path_factory.mktemp("endpoints")
    with (
        serve_model(watermark_files.watermarked, logs / "wm.log") as watermarked,
        serve_model(watermark_files.base, logs / "base.log") as base,
    ):
        yield {"watermarked": watermarked, "base": base}


def verify(key: Path, url: str, *options: str) -> object:
    return runner.invoke(app, ["watermark", "verify", "--endpoint", url, str(key), *options])


def test_the_watermarked_model_behind_an_api_is_a_copy(
    watermark_files: WatermarkFiles, endpoints: dict[str, str], tmp_path: Path
) -> None:
    report = tmp_path / "report"
    result = verify(
        watermark_files.key, endpoints["watermarked"], "--batch", "7", "--report", str(report), "--json"
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    usage = document["endpoint"]
    assert document["is_copy"] and document["wsr"] == 1.0
    assert usage["answer"] == "logits" and usage["queries"] == 2 * (16 + 1)  # 2 triggers, leave-one-out
    assert usage["requests"] == 5 and usage["retries"] == 0
    html = (report / "evidence.html").read_text()
    assert endpoints["watermarked"] in html and "34 in 5 requests" in html


def test_the_model_before_embedding_behind_an_api_is_not(
    watermark_files: WatermarkFiles, endpoints: dict[str, str]
) -> None:
    result = verify(watermark_files.key, endpoints["base"])
    assert result.exit_code == 1, result.output
    assert (
        result.stdout.startswith("not a copy") and "34 queries in 1 request (logits answers" in result.stdout
    )


def test_a_budget_below_what_the_key_needs_exits_2_before_querying(
    watermark_files: WatermarkFiles, endpoints: dict[str, str]
) -> None:
    result = verify(watermark_files.key, endpoints["watermarked"], "--max-queries", "33")
    assert result.exit_code == 2
    assert "--max-queries 33: the key needs 34 queries" in result.stderr


def test_an_unreachable_endpoint_exits_2_naming_the_option(watermark_files: WatermarkFiles) -> None:
    url = f"http://127.0.0.1:{supervisor.free_port()}/predict"
    result = verify(watermark_files.key, url, "--retries", "0")
    assert result.exit_code == 2
    assert (
        f"--endpoint {url}: the endpoint {url} gave no answer after 1 tries (connection refused)"
        in result.stderr
    )
    assert "Traceback" not in result.output


def test_a_malformed_answer_exits_2(watermark_files: WatermarkFiles) -> None:
    with ScriptedEndpoint(
        lambda n, r: (200, json_body({"logits": [[float("inf")] * 10] * len(r["inputs"])}))
    ) as api:
        result = verify(watermark_files.key, api.url)
    assert result.exit_code == 2
    assert f"--endpoint {api.url}: the answer of {api.url} is malformed" in result.stderr


def test_endpoint_and_model_file_together_are_a_usage_error(watermark_files: WatermarkFiles) -> None:
    args = ["watermark", "verify", "--endpoint", "http://127.0.0.1:1/", str(watermark_files.watermarked)]
    result = runner.invoke(app, [*args, str(watermark_files.key)])
    assert result.exit_code == 2 and "give only the KEY file" in result.stderr
    result = runner.invoke(app, ["watermark", "verify", str(watermark_files.key)])
    assert result.exit_code == 2 and "KEY file" in result.stderr
