"""`ledgermark watermark calibrate` and `watermark verify --null-set`: a null set built by the real command,
the empirical p in the verdict and the report, exit codes, and null sets that must be refused."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from registry.cli import app
from tests.conftest import WatermarkFiles

runner = CliRunner()
CALIBRATE = ["watermark", "calibrate", "--dataset", "digits", "--arch", "mlp", "--epochs", "20"]


@pytest.fixture(scope="module")
def null_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four MLP null models on digits (p_emp can reach 1/5): built once by the command under test."""
    out = tmp_path_factory.mktemp("calibrate") / "nulls"
    result = runner.invoke(app, [*CALIBRATE, "--count", "4", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["models"] == 4 and document["trained"] == 4
    return out


def test_calibrate_writes_models_and_a_manifest_of_their_hashes(null_set: Path) -> None:
    manifest = json.loads((null_set / "nullset.json").read_text())
    assert manifest["format"] == "ledgermark-null-set" and manifest["dataset"] == "digits"
    assert [m["made"]["init_seed"] for m in manifest["models"]] == [1000, 1001, 1002, 1003]
    for entry in manifest["models"]:
        assert hashlib.sha256((null_set / entry["file"]).read_bytes()).hexdigest() == entry["sha256"]
        assert entry["made"]["source"] == "trained" and entry["made"]["test_accuracy"] > 0.8


def _verify(files: WatermarkFiles, model: str, null_set: Path, *extra: str) -> object:
    args = ["watermark", "verify", str(getattr(files, model)), str(files.key), "--null-set", str(null_set)]
    return runner.invoke(app, [*args, *extra])


def test_verify_with_the_null_set_says_copy_and_reports_the_histogram(
    watermark_files: WatermarkFiles, null_set: Path, tmp_path: Path
) -> None:
    report = tmp_path / "report"
    result = _verify(
        watermark_files, "watermarked", null_set, "--alpha", "0.25", "--json", "--report", str(report)
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["is_copy"] and document["calibration"]["p_empirical"] == pytest.approx(0.2)
    assert document["calibration"]["null_models"] == 4 and document["verdict"].startswith("copy")
    evidence = json.loads((report / "evidence.json").read_text())
    assert evidence["calibration"]["exceeding"] == 0 and evidence["is_copy"]
    page = (report / "evidence.html").read_text()
    assert '<svg class="null-histogram"' in page and "Against 4 null models" in page


def test_verify_with_the_null_set_exits_1_for_the_model_before_embedding(
    watermark_files: WatermarkFiles, null_set: Path
) -> None:
    result = _verify(watermark_files, "base", null_set, "--alpha", "0.25")
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith("not a copy")


def test_too_few_nulls_for_alpha_exit_1_and_say_how_many_are_needed(
    watermark_files: WatermarkFiles, null_set: Path
) -> None:
    result = _verify(watermark_files, "watermarked", null_set)  # α 0.01: p_emp ≥ 1/5
    assert result.exit_code == 1, result.output
    assert "too few null models" in result.stdout and "at least 99 are needed" in result.stdout
    assert "warning: only 4 null models" in result.stdout


def test_a_tampered_null_model_is_refused_with_exit_2(
    watermark_files: WatermarkFiles, null_set: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "nulls"
    shutil.copytree(null_set, copy)
    with open(copy / "null-0001.pt", "r+b") as stream:
        stream.seek(-16, 2)
        stream.write(b"\xff" * 8)
    result = _verify(watermark_files, "watermarked", copy, "--alpha", "0.25")
    assert result.exit_code == 2, result.output
    assert "null-0001.pt does not match the manifest" in result.output and "Traceback" not in result.output


def test_a_tampered_manifest_is_refused_with_exit_2(
    watermark_files: WatermarkFiles, null_set: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "nulls"
    shutil.copytree(null_set, copy)
    manifest = json.loads((copy / "nullset.json").read_text())
    manifest["models"][2]["sha256"] = manifest["models"][0]["sha256"]  # one null counted twice
    (copy / "nullset.json").write_text(json.dumps(manifest))
    result = _verify(watermark_files, "watermarked", copy, "--alpha", "0.25")
    assert result.exit_code == 2, result.output
    assert "two entries share a sha256" in result.output


def test_a_null_set_holding_the_suspect_is_refused(watermark_files: WatermarkFiles, tmp_path: Path) -> None:
    out = tmp_path / "nulls"
    built = runner.invoke(
        app, ["watermark", "calibrate", "--out", str(out), "--model", str(watermark_files.watermarked)]
    )
    assert built.exit_code == 0, built.output
    assert "null set of 1 models (0 trained, 1 given)" in built.stdout
    assert json.loads((out / "nullset.json").read_text())["models"][0]["made"] == {
        "source": "file",
        "name": "watermarked.pt",
    }
    result = _verify(watermark_files, "watermarked", out)
    assert result.exit_code == 2, result.output
    assert "holds the suspect model itself" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--count", "0"], "a null set holds 1 to 1000 models, not 0"),
        (["--count", "1", "--train-fraction", "0"], "the training fraction must lie in (0, 1]"),
        (["--count", "1", "--dataset", "wine", "--arch", "cnn"], "cnn needs input_shape (C, H, W)"),
    ],
)
def test_calibrate_refuses_bad_settings_with_exit_2_and_leaves_nothing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = runner.invoke(app, ["watermark", "calibrate", "--out", str(tmp_path / "nulls"), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_calibrate_refuses_a_non_empty_out_and_a_model_of_another_task(
    watermark_files: WatermarkFiles, null_set: Path, tmp_path: Path
) -> None:
    taken = runner.invoke(app, [*CALIBRATE, "--count", "1", "--out", str(null_set)])
    assert taken.exit_code == 2 and "already exists and is not an empty folder" in taken.output
    wine = tmp_path / "wine.pt"
    trained = runner.invoke(
        app, ["watermark", "train", "--dataset", "wine", "--arch", "mlp", "--epochs", "1", "--out", str(wine)]
    )
    assert trained.exit_code == 0, trained.output
    args = ["--model", str(watermark_files.base), "--model", str(wine), "--out", str(tmp_path / "mixed")]
    mixed = runner.invoke(app, ["watermark", "calibrate", *args])
    assert mixed.exit_code == 2, mixed.output
    assert (
        "wine.pt takes inputs (13,) with 3 classes, but the null set is for inputs (1, 8, 8)" in mixed.output
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wine.pt"]


def test_through_an_endpoint_too_few_nulls_are_said_the_same_way(
    watermark_files: WatermarkFiles, null_set: Path, tmp_path: Path
) -> None:
    from tests.fixtures.model_endpoint import serve_model

    with serve_model(watermark_files.watermarked, tmp_path / "serve.log") as url:
        args = [
            "watermark",
            "verify",
            "--endpoint",
            url,
            str(watermark_files.key),
            "--null-set",
            str(null_set),
        ]
        result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "too few null models" in result.stdout and "warning: only 4 null models" in result.stdout
