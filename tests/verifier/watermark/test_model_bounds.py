"""Model specs are bounded before anything is allocated (issue 10, item 9: the model half).

A 1.45 KB model file whose spec asked for an MLP of hidden width 20000 took the server from 384 MB to 1.94 GB
for one request: the network was built (400M parameters) before its weights were compared with the spec.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from verifier.watermark import keys, models, segments

HUGE_MLP = {"arch": "mlp", "num_classes": 10, "input_shape": [64], "width": 64, "hidden": [20000, 20000]}


def _rss_bytes() -> int:
    """This process's resident memory now (not the peak: a refused spec must not grow it at all)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def _model_file(path: Path, spec: dict) -> Path:
    """A model file as an attacker writes it: the spec it likes and no weights worth the name."""
    torch.save({"format": models.FORMAT, "version": models.VERSION, "spec": spec, "state_dict": {}}, path)
    return path


def test_an_mlp_spec_of_width_20000_is_refused_before_allocation(tmp_path: Path) -> None:
    model = _model_file(tmp_path / "model.pt", HUGE_MLP)
    before = _rss_bytes()

    with pytest.raises(models.ModelTooLargeError) as caught:
        models.load_model(model)

    assert model.stat().st_size < 2048
    assert _rss_bytes() - before < 50 * 2**20  # building it would take 1.6 GB
    assert str(caught.value) == (
        f"{model}: the model spec asks for 401,520,010 parameters (mlp; at most 64,000,000): "
        "refused before building it"
    )


def test_the_cli_refuses_the_width_20000_model_with_exit_2(tmp_path: Path) -> None:
    model = _model_file(tmp_path / "model.pt", HUGE_MLP)
    key = keys.create_key(
        torch.rand(1, 64),
        torch.tensor([0]),
        segments.FeatureGroups(4, (64,)),
        hashlib.sha256(b"secret").digest(),
    )
    (tmp_path / "key.wmk").write_bytes(key.to_bytes())

    verified = subprocess.run(
        [sys.executable, "-m", "registry", "watermark", "verify", str(model), str(tmp_path / "key.wmk")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "LEDGERMARK_HOME": str(tmp_path / "home")},
    )

    assert verified.returncode == 2, verified.stderr[-2000:]
    assert "401,520,010 parameters (mlp; at most 64,000,000): refused before building it" in verified.stderr
    assert "Traceback" not in verified.stderr


def test_a_model_file_that_unpacks_to_200_mb_from_200_kb_is_refused_before_unpacking(tmp_path: Path) -> None:
    plain, bomb = tmp_path / "plain.pt", tmp_path / "bomb.pt"
    spec = {**HUGE_MLP, "hidden": [8]}
    torch.save(
        {
            "format": models.FORMAT,
            "version": models.VERSION,
            "spec": spec,
            "state_dict": {"w": torch.zeros(50_000_000)},
        },
        plain,
    )
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(bomb, "w") as target:
        for record in source.infolist():
            target.writestr(record.filename, source.read(record), compress_type=zipfile.ZIP_DEFLATED)
    plain.unlink()
    before = _rss_bytes()

    with pytest.raises(models.ModelTooLargeError, match="refused before unpacking"):
        models.load_model(bomb)

    assert bomb.stat().st_size < 300_000
    assert _rss_bytes() - before < 50 * 2**20


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"width": 10**5, "arch": "resnet18", "input_shape": [3, 32, 32]},
            "parameters (resnet18; at most 64,000,000)",
        ),
        ({"arch": "cnn", "width": 8, "input_shape": [3, 4096, 4096]}, "activations per example"),
        ({"hidden": [16] * 65}, "hidden holds more than 64 items"),
        ({"input_shape": [2**30]}, "input_shape item must be from 0 to 1048576"),
        ({"num_classes": True}, "num_classes must be a whole number, not a boolean"),
        ({"num_classes": 10.0}, "num_classes must be a whole number, not a decimal number"),
        ({"num_classes": "10"}, "num_classes must be a whole number, not a string"),
        ({"hidden": [2**256]}, "hidden item must be from 0 to 1048576, not a 257-bit number"),
    ],
    ids=["wide resnet", "huge image", "deep mlp", "huge input", "bool", "float", "string", "2^256"],
)
def test_specs_that_are_too_large_or_mistyped_are_refused(change: dict, message: str) -> None:
    with pytest.raises(models.ModelFileError) as caught:
        models.ModelSpec.from_dict({**HUGE_MLP, "hidden": [16], **change})

    assert message in str(caught.value)


@pytest.mark.parametrize(
    "spec",
    [
        models.ModelSpec("mlp", 3, (13,), hidden=(32, 16)),
        models.ModelSpec("cnn", 10, (1, 8, 8), width=16),
        models.ModelSpec("cnn", 10, (3, 32, 32), width=32),
        models.ModelSpec("resnet18", 10, (3, 32, 32), width=64),
        models.ModelSpec("resnet18", 4, (1, 8, 8), width=4),
    ],
    ids=lambda spec: f"{spec.arch}-{spec.width}",
)
def test_the_parameter_count_is_computed_exactly_from_the_spec(spec: models.ModelSpec) -> None:
    built = spec.build()

    assert spec.parameter_count() == sum(p.numel() for p in built.parameters())


def test_the_service_refuses_the_width_20000_model_with_400_and_memory_does_not_grow(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from registry.api.main import create_app
    from registry.config import CHAIN_EMBEDDED, IPFS_EMBEDDED, Settings

    model = _model_file(tmp_path / "model.pt", HUGE_MLP)
    key = keys.create_key(
        torch.rand(1, 64),
        torch.tensor([0]),
        segments.FeatureGroups(4, (64,)),
        hashlib.sha256(b"secret").digest(),
    )
    settings = Settings(data_dir=tmp_path / "state", chain=CHAIN_EMBEDDED, ipfs=IPFS_EMBEDDED)
    files = [("model", ("suspect.pt", model.read_bytes())), ("key", ("key.wmk", key.to_bytes()))]

    with TestClient(create_app(settings)) as client:
        before = _rss_bytes()
        refused = client.post("/watermark/verify", files=files)
        grown = _rss_bytes() - before
        health = client.get("/health")

    assert refused.status_code == 400, refused.text
    assert refused.json()["detail"].endswith(
        "401,520,010 parameters (mlp; at most 64,000,000): refused before building it"
    )
    assert grown < 50 * 2**20
    assert health.status_code == 200
