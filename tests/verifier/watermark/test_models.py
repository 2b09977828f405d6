"""verifier.models: architecture shapes, the spec, and the model file (round trip, untrusted input, atomicity)."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from verifier.watermark import models


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("size", [32, 8])
def test_resnet18_output_shape(size: int) -> None:
    model = models.ResNet18(num_classes=10, in_channels=1, width=64).eval()
    assert model(torch.randn(2, 1, size, size)).shape == (2, 10)


def test_resnet18_full_width_is_standard_size_and_width_scales_it() -> None:
    assert 11_000_000 < n_params(models.ResNet18(10, 3)) < 11_300_000  # the usual 11.2M CIFAR ResNet-18
    assert n_params(models.ResNet18(10, width=16)) < n_params(models.ResNet18(10, width=32))


@pytest.mark.parametrize(
    ("spec", "batch"),
    [
        (models.ModelSpec("cnn", 10, (1, 32, 32), width=8), (2, 1, 32, 32)),
        (models.ModelSpec("cnn", 10, (3, 8, 8), width=8), (2, 3, 8, 8)),
        (models.ModelSpec("mlp", 3, (30,)), (2, 30)),
        (models.ModelSpec("mlp", 2, (1, 8, 8), hidden=(16,)), (2, 1, 8, 8)),
        (models.ModelSpec("resnet18", 4, (3, 8, 8), width=4), (2, 3, 8, 8)),
    ],
)
def test_spec_builds_model_with_expected_output(spec: models.ModelSpec, batch: tuple[int, ...]) -> None:
    model = spec.build().eval()
    assert model.spec == spec
    assert model(torch.randn(batch)).shape == (batch[0], spec.num_classes)


def test_small_cnn_has_no_batchnorm_and_width_scales_it() -> None:
    cnn = models.SmallCNN(10, width=32)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in cnn.modules())
    assert n_params(models.SmallCNN(10, width=16)) < n_params(cnn)


def test_spec_dict_round_trip_uses_plain_types() -> None:
    spec = models.ModelSpec("mlp", 3, (13,), hidden=(32, 16))
    as_dict = spec.to_dict()
    assert as_dict["input_shape"] == [13] and as_dict["hidden"] == [32, 16]
    assert models.ModelSpec.from_dict(as_dict) == spec


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (models.ModelSpec("vit", 10, (1, 32, 32)), "unknown architecture 'vit'"),
        (models.ModelSpec("cnn", 10, (32, 32)), "input_shape (C, H, W)"),
        (models.ModelSpec("mlp", 0, (30,)), "invalid num_classes"),
    ],
)
def test_invalid_spec_raises(spec: models.ModelSpec, message: str) -> None:
    with pytest.raises(models.ModelFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        spec.build()


@pytest.mark.parametrize(
    "spec",
    [models.ModelSpec("resnet18", 10, (1, 8, 8), width=4), models.ModelSpec("cnn", 10, (1, 32, 32), width=8)],
)
def test_save_load_round_trip(tmp_path: Path, spec: models.ModelSpec) -> None:
    torch.manual_seed(0)
    model = spec.build()
    model.train()
    model(torch.randn(8, *spec.input_shape))  # move BatchNorm running stats away from their defaults
    model.eval()
    path = models.save_model(model, tmp_path / "model.pt")
    loaded = models.load_model(path)
    x = torch.randn(4, *spec.input_shape)
    assert loaded.spec == spec
    assert not loaded.training
    assert torch.equal(loaded(x), model(x))
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]  # no temp file left behind


def test_save_without_spec_raises(tmp_path: Path) -> None:
    with pytest.raises(models.ModelFileError, match="no ModelSpec"):
        models.save_model(models.MLP(2, 4), tmp_path / "model.pt")
    assert list(tmp_path.iterdir()) == []


def test_save_with_explicit_spec(tmp_path: Path) -> None:
    spec = models.ModelSpec("mlp", 2, (4,), hidden=(8,))
    models.save_model(models.MLP(2, 4, hidden=(8,)), tmp_path / "model.pt", spec=spec)
    assert models.load_model(tmp_path / "model.pt").spec == spec


def test_failed_save_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_save(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        models.save_model(models.ModelSpec("mlp", 2, (4,)).build(), tmp_path / "model.pt")
    assert list(tmp_path.iterdir()) == []


def _payload(**overrides: object) -> dict[str, object]:
    spec = models.ModelSpec("mlp", 2, (4,), hidden=(8,))
    payload = {"format": models.FORMAT, "version": models.VERSION, "spec": spec.to_dict()}
    payload["state_dict"] = spec.build().state_dict()
    payload.update(overrides)
    return payload


def _write_missing(path: Path) -> None:
    pass


def _write_random_bytes(path: Path) -> None:
    path.write_bytes(random.Random(0).randbytes(256))


def _write_empty(path: Path) -> None:
    path.write_bytes(b"")


def _write_plain_state_dict(path: Path) -> None:
    torch.save(models.MLP(2, 4).state_dict(), path)


def _write_future_version(path: Path) -> None:
    torch.save(_payload(version=2), path)


def _write_bad_spec(path: Path) -> None:
    torch.save(_payload(spec={"arch": "transformer", "num_classes": 2, "input_shape": [4]}), path)


def _write_wrong_shape(path: Path) -> None:
    state = _payload()["state_dict"]
    state["head.weight"] = torch.zeros(3, 8)
    torch.save(_payload(state_dict=state), path)


def _write_missing_key(path: Path) -> None:
    state = _payload()["state_dict"]
    del state["head.bias"]
    state["extra.weight"] = torch.zeros(1)
    torch.save(_payload(state_dict=state), path)


class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("echo pwned",))


def _write_pickled_object(path: Path) -> None:
    torch.save(_payload(spec=_Evil()), path)


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (_write_missing, "no such model file"),
        (_write_random_bytes, "not a readable torch file"),
        (_write_empty, "not a readable torch file"),
        (_write_pickled_object, "not a readable torch file"),
        (_write_plain_state_dict, "not a Ledgermark model file"),
        (_write_future_version, "unsupported model file version 2"),
        (_write_bad_spec, "unknown architecture 'transformer'"),
        (_write_wrong_shape, r"head\.weight.*expected \[2, 8\], got \[3, 8\]"),
        (_write_missing_key, r"missing keys \['head\.bias'\]; unexpected keys \['extra\.weight'\]"),
    ],
)
def test_load_model_rejects_bad_files(tmp_path: Path, write: Callable[[Path], None], message: str) -> None:
    path = tmp_path / "suspect.pt"
    write(path)
    with pytest.raises(models.ModelFileError, match=message) as info:
        models.load_model(path)
    assert str(path) in str(info.value)


def test_state_dict_mismatch_keeps_structured_fields(tmp_path: Path) -> None:
    path = tmp_path / "suspect.pt"
    _write_wrong_shape(path)
    with pytest.raises(models.StateDictMismatch) as info:
        models.load_model(path)
    assert info.value.mismatched == {"head.weight": ((2, 8), (3, 8))}
    assert info.value.missing == [] and info.value.unexpected == []
