"""Models from the user's own files: factory + state_dict or safetensors, TorchScript, ONNX (verify only).

One small MLP is trained and watermarked per module; every format round-trips it (load → embed → save in the
same format → load → verify), and every way a file can be wrong is refused with the input at fault named.
"""

from __future__ import annotations

import dataclasses
import pickle
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from verifier.watermark import api, embedding, keys, sources, training
from verifier.watermark.errors import WatermarkError

FACTORY = f"{__name__}:build_mlp"
QUICK = embedding.EmbedConfig(steps=800, lr=1e-3)  # stops early once every margin holds
SEED = bytes(range(32))  # a fixed key seed: the same bits, masks and triggers on every run


def build_mlp() -> nn.Module:
    """The user's own architecture, as their factory would build it."""
    return nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 3))


def build_nothing() -> str:
    return "not a module"


def build_broken() -> nn.Module:
    raise ValueError("the user's code failed")


@dataclasses.dataclass(frozen=True)
class Trained:
    x: torch.Tensor
    y: torch.Tensor
    base: nn.Module  # trained, not watermarked
    innocent: nn.Module  # same data and architecture, another seed


def train(x: torch.Tensor, y: torch.Tensor, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    model = build_mlp()
    config = training.TrainConfig(epochs=15, batch_size=64, lr=1e-2, optimizer="adam", weight_decay=0.0)
    training.train(model, x, y, config)
    return model.eval()


@pytest.fixture(scope="module")
def trained() -> Trained:
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(500, 12)).astype(np.float32))
    y = (x @ torch.from_numpy(rng.normal(size=(12, 3)).astype(np.float32))).argmax(dim=1)
    return Trained(x, y, train(x, y, 0), train(x, y, 1))


def copy_of(model: nn.Module) -> nn.Module:
    clone = build_mlp()
    clone.load_state_dict(model.state_dict())
    return clone.eval()


def round_trip(source: sources.ModelSource, out: Path, trained: Trained) -> tuple[keys.WatermarkKey, Path]:
    """Embed into the loaded model, write it back in its own format."""
    key, report = api.embed(source, (trained.x, trained.y), bits=12, config=QUICK, seed=SEED)
    assert report.wsr_after == 1.0
    return key, source.save(out)


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_factory_and_weights_round_trip_in_the_format_given(
    trained: Trained, tmp_path: Path, suffix: str
) -> None:
    weights = tmp_path / f"weights{suffix}"
    state = copy_of(trained.base).state_dict()
    torch.save(state, weights) if suffix == ".pt" else save_file(state, weights)

    source = sources.open_model(factory=FACTORY, weights=weights)
    key, written = round_trip(source, tmp_path / f"watermarked{suffix}", trained)

    assert source.format == ("state-dict" if suffix == ".pt" else "safetensors")
    reopened = sources.open_model(factory=FACTORY, weights=written)
    assert reopened.format == source.format and api.verify(reopened, key).is_copy
    assert not api.verify(sources.open_model(factory=FACTORY, weights=weights), key).is_copy  # the original
    assert not api.verify(trained.innocent, key).is_copy


def test_a_checkpoint_dict_holding_a_state_dict_is_read(trained: Trained, tmp_path: Path) -> None:
    weights = tmp_path / "checkpoint.pth"
    torch.save({"state_dict": trained.base.state_dict(), "epoch": 3}, weights)
    source = sources.open_model(factory=FACTORY, weights=weights)
    assert torch.equal(source.module(trained.x[:5]), trained.base(trained.x[:5]))


def test_torchscript_round_trips_as_torchscript(trained: Trained, tmp_path: Path) -> None:
    scripted = tmp_path / "model.ts"
    torch.jit.save(torch.jit.script(copy_of(trained.base)), scripted)

    source = sources.open_model(scripted)
    key, written = round_trip(source, tmp_path / "watermarked.pt", trained)

    assert source.format == "torchscript" and sources.file_format(written) == "torchscript"
    reopened = sources.open_model(written)
    assert isinstance(reopened.module, torch.jit.ScriptModule)
    assert api.verify(reopened, key).is_copy
    assert not api.verify(sources.open_model(scripted), key).is_copy  # the file before embedding


def export_onnx(model: nn.Module, path: Path, dynamic: bool = True) -> Path:
    axes = {"x": {0: "batch"}, "logits": {0: "batch"}} if dynamic else None
    torch.onnx.export(
        model,
        (torch.zeros(4, 12),),
        str(path),
        input_names=["x"],
        output_names=["logits"],
        dynamic_axes=axes,
        dynamo=False,
    )
    return path


@pytest.mark.parametrize("dynamic", [True, False], ids=["dynamic-batch", "fixed-batch-of-4"])
def test_onnx_models_are_verified_with_onnxruntime(trained: Trained, tmp_path: Path, dynamic: bool) -> None:
    model = copy_of(trained.base)
    key, _ = api.embed(model, (trained.x, trained.y), bits=12, triggers=3, config=QUICK, seed=SEED)

    suspect = sources.open_model(export_onnx(model, tmp_path / "suspect.onnx", dynamic))
    innocent = sources.open_model(export_onnx(trained.innocent, tmp_path / "innocent.onnx", dynamic))

    verified = api.verify(suspect, key)
    assert verified.is_copy and verified.wsr == api.verify(model, key).wsr
    assert not api.verify(innocent, key).is_copy
    with pytest.raises(WatermarkError, match="can be verified but not watermarked"):
        api.embed(suspect, (trained.x, trained.y), bits=12, config=QUICK, seed=SEED)


def test_embedding_refuses_an_onnx_model_before_any_work(trained: Trained, tmp_path: Path) -> None:
    source = sources.open_model(export_onnx(trained.base, tmp_path / "m.onnx"))
    with pytest.raises(sources.ModelSourceError, match="can be verified but not watermarked"):
        source.check_output(tmp_path / "out.onnx")


def write_pickle(path: Path) -> Path:
    path.write_bytes(pickle.dumps({"weight": object()}))
    return path


def write_sparse(path: Path, size: int) -> Path:
    with open(path, "wb") as stream:
        stream.truncate(size)
    return path


@pytest.mark.parametrize(
    ("arguments", "field", "message"),
    [
        ({"factory": "nomodule_here_at_all:build", "weights": "ok.pt"}, "factory", "cannot import 'nomodule"),
        ({"factory": f"{__name__}:missing", "weights": "ok.pt"}, "factory", "has no callable 'missing'"),
        ({"factory": "no-colon", "weights": "ok.pt"}, "factory", "is not MODULE:CALLABLE"),
        (
            {"factory": f"{__name__}:build_nothing", "weights": "ok.pt"},
            "factory",
            "returned str, not a torch",
        ),
        (
            {"factory": f"{__name__}:build_broken", "weights": "ok.pt"},
            "factory",
            "raised ValueError: the user",
        ),
        ({"factory": FACTORY}, "factory", "a factory needs the weights file"),
        ({"weights": "ok.pt"}, "weights", "weights need the factory"),
        ({"factory": FACTORY, "weights": "wrong.pt"}, "weights", r"missing keys \['2.bias', '2.weight'\]"),
        ({"factory": FACTORY, "weights": "shapes.pt"}, "weights", r"shape mismatch \{'0.weight'"),
        ({"factory": FACTORY, "weights": "ok.h5"}, "weights", "unknown weights suffix '.h5'"),
        ({"factory": FACTORY, "weights": "pickle.pt"}, "weights", "not a readable torch file"),
        ({"factory": FACTORY, "weights": "object.pt"}, "weights", "not a torch state_dict file"),
        ({"factory": FACTORY, "weights": "junk.safetensors"}, "weights", "not a readable safetensors file"),
        (
            {"factory": FACTORY, "weights": "huge.pt"},
            "weights",
            "more than the 2,147,483,648 a model may have",
        ),
        ({"model": "model.keras"}, "model", "unknown model file suffix '.keras'"),
        ({"model": "junk.ts"}, "model", "not a readable TorchScript archive"),
        ({"model": "junk.onnx"}, "model", "not a readable ONNX model"),
        ({"model": "huge.onnx"}, "model", "refused unread"),
        ({}, "model", "no model given"),
    ],
)
def test_bad_sources_are_refused_naming_the_input(
    trained: Trained, tmp_path: Path, arguments: dict, field: str, message: str
) -> None:
    torch.save(trained.base.state_dict(), tmp_path / "ok.pt")
    (tmp_path / "ok.h5").write_bytes(b"x")
    torch.save({"0.weight": torch.zeros(32, 12), "0.bias": torch.zeros(32)}, tmp_path / "wrong.pt")
    torch.save({**trained.base.state_dict(), "0.weight": torch.zeros(32, 13)}, tmp_path / "shapes.pt")
    write_pickle(tmp_path / "pickle.pt")
    torch.save(
        {"0.weight": Fraction(1, 2)}, tmp_path / "object.pt"
    )  # a real torch file; weights_only refuses
    (tmp_path / "junk.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{junk}!!")
    write_sparse(tmp_path / "huge.pt", sources.MAX_MODEL_BYTES + 1)
    write_sparse(tmp_path / "huge.onnx", sources.MAX_MODEL_BYTES + 1)
    for name in ("model.keras", "junk.ts", "junk.onnx"):
        (tmp_path / name).write_bytes(b"PK not really an archive")
    paths = {name: tmp_path / value for name, value in arguments.items() if name in ("weights", "model")}
    with pytest.raises(sources.ModelSourceError, match=message) as refused:
        sources.open_model(paths.get("model"), factory=arguments.get("factory"), weights=paths.get("weights"))
    assert refused.value.input == field


def test_a_torchscript_archive_that_unpacks_to_far_more_than_its_size_is_refused(tmp_path: Path) -> None:
    import zipfile

    bomb = tmp_path / "bomb.ts"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/code/x.py", b"\0" * (64 << 20))
    with pytest.raises(sources.ModelSourceError, match="refused before unpacking"):
        sources.open_model(bomb)


def test_the_output_must_carry_the_suffix_of_the_format_written(trained: Trained, tmp_path: Path) -> None:
    save_file(trained.base.state_dict(), tmp_path / "w.safetensors")
    source = sources.open_model(factory=FACTORY, weights=tmp_path / "w.safetensors")
    with pytest.raises(sources.ModelSourceError, match="name it '.safetensors'") as refused:
        source.check_output(tmp_path / "out.pt")
    assert refused.value.input == "out"
