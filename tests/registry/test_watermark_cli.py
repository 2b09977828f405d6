"""`ledgermark watermark train | embed | verify` on real models trained here: outputs, exit codes, files."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from registry.cli import app
from tests.conftest import WatermarkFiles

runner = CliRunner()


def test_train_writes_a_model_that_verify_can_load(tmp_path: Path) -> None:
    out = tmp_path / "mlp.pt"
    result = runner.invoke(
        app, ["watermark", "train", "--dataset", "wine", "--arch", "mlp", "--epochs", "20", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "trained mlp on wine: test accuracy 0." in result.stdout and out.is_file()


def test_embed_writes_the_model_and_an_owner_only_key(
    watermark_files: WatermarkFiles, tmp_path: Path
) -> None:
    out, key = tmp_path / "wm.pt", tmp_path / "k.wmk"
    args = ["watermark", "embed", str(watermark_files.base), "--dataset", "digits", "--bits", "16"]
    result = runner.invoke(
        app, [*args, "--triggers", "2", "--steps", "400", "--out", str(out), "--key", str(key), "--json"]
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["wsr_after"] == 1.0 and document["triggers_correct"] is True
    assert document["clean_acc_after"] >= document["clean_acc_before"] - 0.05
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.wmk", "wm.pt"]


def test_verify_says_copy_and_writes_the_evidence_report(
    watermark_files: WatermarkFiles, tmp_path: Path
) -> None:
    report = tmp_path / "report"
    args = ["watermark", "verify", str(watermark_files.watermarked), str(watermark_files.key)]
    result = runner.invoke(app, [*args, "--report", str(report), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["is_copy"] and document["wsr"] == 1.0 and document["p_value"] < 1e-4
    evidence = json.loads((report / "evidence.json").read_text())
    assert evidence["model_sha256"] == document["model_sha256"] and evidence["is_copy"]
    assert "copy: the model carries the watermark" in (report / "evidence.html").read_text()


def test_verify_exits_1_for_the_model_before_embedding(watermark_files: WatermarkFiles) -> None:
    result = runner.invoke(app, ["watermark", "verify", str(watermark_files.base), str(watermark_files.key)])
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith("not a copy")


@pytest.mark.parametrize(
    ("model", "key", "message"),
    [
        ("watermarked", "sealed", "not a watermark key: the file is not UTF-8 JSON (is it still sealed?)"),
        (
            "junk",
            "key",
            "junk.pt: not a readable torch file (corrupt, truncated, or holding non-tensor objects)",
        ),
        ("wine", "key", "(13,) but the key's triggers are (1, 8, 8): this key was not made for this kind"),
        (
            "three-class",
            "key",
            "labelled up to class 9 but the model has 3 classes: this key was not made for this kind of model",
        ),
    ],
)
def test_verify_exits_2_with_a_clear_error(
    watermark_files: WatermarkFiles, tmp_path: Path, model: str, key: str, message: str
) -> None:
    from verifier.integrity import sealing

    paths = {
        "watermarked": watermark_files.watermarked,
        "key": watermark_files.key,
        "sealed": tmp_path / "sealed",
        "junk": tmp_path / "junk.pt",
        "wine": tmp_path / "wine.pt",
        "three-class": tmp_path / "three.pt",
    }
    paths["sealed"].write_bytes(sealing.seal(watermark_files.key.read_bytes())[0])
    paths["junk"].write_bytes(b"\x00not a model")
    if model == "wine":
        runner.invoke(
            app,
            [
                "watermark",
                "train",
                "--dataset",
                "wine",
                "--arch",
                "mlp",
                "--epochs",
                "1",
                "--out",
                str(paths["wine"]),
            ],
        )
    if model == "three-class":
        import dataclasses

        import torch

        from verifier.watermark import keys, models

        spec = models.ModelSpec(arch="cnn", num_classes=3, input_shape=(1, 8, 8), width=4)
        models.save_model(spec.build(), paths[model])
        # The fixture's few triggers may all fall in classes 0-2: label them 9 so the key surely needs ten.
        digits_key = keys.WatermarkKey.from_bytes(watermark_files.key.read_bytes())
        nines = dataclasses.replace(digits_key, labels=torch.full_like(digits_key.labels, 9))
        paths["key"] = tmp_path / "nines.wmk"
        paths["key"].write_bytes(nines.to_bytes())
    result = runner.invoke(app, ["watermark", "verify", str(paths[model]), str(paths[key])])
    assert result.exit_code == 2, result.output
    assert message in result.stderr


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--bits", "10"], "perfect-square number of bits, not 10"),
        (["--dataset", "wine"], "but wine has (13,)"),
        (["--trigger-kind", "glitter"], "unknown trigger kind 'glitter'"),
        (["--recipe", "magic"], "--recipe 'magic': use seed, robust, robust-simulated"),
        (
            ["--key", "no-such-folder/k"],
            "cannot write no-such-folder/k: the folder no-such-folder does not exist",
        ),
    ],
)
def test_embed_refuses_bad_settings_and_writes_nothing(
    watermark_files: WatermarkFiles, tmp_path: Path, extra: list[str], message: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    args = [
        "watermark",
        "embed",
        str(watermark_files.base),
        "--out",
        str(out / "wm.pt"),
        "--key",
        str(out / "k"),
    ]
    result = runner.invoke(app, [*args, *extra])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert list(out.iterdir()) == []


def test_a_recipe_sets_the_method_and_options_beside_it_override_it(
    watermark_files: WatermarkFiles, tmp_path: Path
) -> None:
    out, key = tmp_path / "wm.pt", tmp_path / "k.wmk"
    args = ["watermark", "embed", str(watermark_files.base), "--dataset", "digits", "--bits", "16"]
    result = runner.invoke(
        app, [*args, "--recipe", "robust", "--steps", "3", "--out", str(out), "--key", str(key), "--json"]
    )
    assert result.exit_code == 0, result.output
    document = json.loads(key.read_bytes())
    assert len(document["labels"]) == 4  # the robust recipe's triggers
    assert document["embedding"]["epsilon"] == 0.2 and document["embedding"]["steps"] == 3
    assert document["embedding"]["fidelity"] == 10.0
