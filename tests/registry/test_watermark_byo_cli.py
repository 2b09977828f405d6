"""`ledgermark watermark embed | verify` on the user's own model and data, through the real commands.

The models are the user's: a factory in this module (imported by name, as a user's own package would be), a
TorchScript file, an ONNX export. The data is the user's: a CSV with a label column, an image folder, an .npz
of token ids. Every refusal exits 2 naming the option at fault and leaves no file behind.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file
from torch import nn
from typer.testing import CliRunner

from registry.cli import app
from verifier.watermark import training

runner = CliRunner()
FACTORY = f"{__name__}:build_mlp"
TOKENS = f"{__name__}:build_token_model"
QUICK = ["--steps", "300", "--lr", "1e-3"]


def build_mlp() -> nn.Module:
    """The user's own tabular classifier: 12 features, 3 classes."""
    return nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 3))


class TokenModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(24, 8)
        self.head = nn.Sequential(nn.Linear(8 * 16, 32), nn.ReLU(), nn.Linear(32, 2))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(ids).flatten(1))


def build_token_model() -> nn.Module:
    return TokenModel()


def fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, seed: int = 0) -> nn.Module:
    config = training.TrainConfig(
        epochs=15, batch_size=64, lr=1e-2, optimizer="adam", weight_decay=0.0, seed=seed
    )
    training.train(model, x, y, config)
    return model.eval()


def tabular_csv(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 12)).astype(np.float32)
    y = (x @ rng.normal(size=(12, 3))).argmax(axis=1)
    lines = [",".join([*(f"f{i}" for i in range(12)), "label"])]
    lines += [
        ",".join([*(repr(float(v)) for v in row), str(int(label))]) for row, label in zip(x, y, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
    return torch.from_numpy(x), torch.from_numpy(y)


def invoke(*args: str | Path) -> tuple[int, str, dict]:
    result = runner.invoke(app, ["watermark", *(str(a) for a in args)])
    document = json.loads(result.stdout) if result.exit_code in (0, 1) and "--json" in args else {}
    assert "Traceback" not in result.output
    return result.exit_code, result.output, document


def test_factory_weights_and_csv_embed_into_safetensors_that_verify_and_export_to_onnx(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from verifier.watermark import keys

    # One key: with a fresh seed per run, 12 bits on one trigger reached WSR 0.917 once in ~5 full runs.
    monkeypatch.setattr(keys, "new_seed", lambda: bytes(range(32)))
    x, y = tabular_csv(tmp_path / "rows.csv")
    torch.manual_seed(0)
    save_file(fit(build_mlp(), x, y).state_dict(), tmp_path / "base.safetensors")
    own = ["--model-factory", FACTORY]

    code, output, embedded = invoke(
        "embed", *own, "--weights", tmp_path / "base.safetensors", "--data", tmp_path / "rows.csv",
        "--bits", "12", *QUICK, "--out", tmp_path / "wm.safetensors", "--key", tmp_path / "k.wmk", "--json",
    )  # fmt: skip
    assert code == 0, output
    assert embedded["wsr_after"] == 1.0 and embedded["triggers_correct"]
    assert (
        embedded["clean_acc_after"] >= embedded["clean_acc_before"] - 0.1
    )  # on the held-out fifth (100 rows)
    assert stat.S_IMODE((tmp_path / "k.wmk").stat().st_mode) == 0o600

    code, output, verified = invoke(
        "verify", *own, "--weights", tmp_path / "wm.safetensors", tmp_path / "k.wmk", "--json"
    )
    assert code == 0, output
    assert verified["is_copy"] and verified["wsr"] == 1.0 and len(verified["model_sha256"]) == 64
    code, output, _ = invoke("verify", *own, "--weights", tmp_path / "base.safetensors", tmp_path / "k.wmk")
    assert code == 1 and output.startswith("not a copy"), output

    from safetensors.torch import load_file

    exported = build_mlp()
    exported.load_state_dict(load_file(tmp_path / "wm.safetensors"))
    torch.onnx.export(
        exported.eval(), (torch.zeros(1, 12),), str(tmp_path / "wm.onnx"), input_names=["x"],
        dynamic_axes={"x": {0: "batch"}}, dynamo=False,
    )  # fmt: skip
    code, output, _ = invoke("verify", tmp_path / "wm.onnx", tmp_path / "k.wmk")
    assert code == 0 and output.startswith("copy: the model carries the watermark"), output
    code, output, _ = invoke(
        "embed", tmp_path / "wm.onnx", "--data", tmp_path / "rows.csv", "--out", tmp_path / "x.onnx",
        "--key", tmp_path / "x.wmk",
    )  # fmt: skip
    assert code == 2 and "MODEL: an ONNX model can be verified but not watermarked" in output
    assert not (tmp_path / "x.wmk").exists() and not (tmp_path / "x.onnx").exists()


def image_folder(root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Two classes of 8×8 greyscale PNGs: brighter on top, or brighter below."""
    generator = torch.Generator().manual_seed(0)
    xs, ys = [], []
    for label, name in enumerate(("bottom", "top")):
        (root / name).mkdir(parents=True)
        for i in range(60):
            pixels = torch.rand(8, 8, generator=generator) * 0.6
            pixels[:4] += 0.4 * label
            pixels[4:] += 0.4 * (1 - label)
            Image.fromarray((pixels * 255).round().byte().numpy(), mode="L").save(root / name / f"{i}.png")
            xs.append(torch.round(pixels * 255) / 255)
            ys.append(label)
    return torch.stack(xs)[:, None], torch.tensor(ys)


def test_a_torchscript_model_and_an_image_folder_embed_into_torchscript(tmp_path: Path) -> None:
    x, y = image_folder(tmp_path / "images")
    torch.manual_seed(0)
    cnn = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 8 * 8, 2))
    torch.jit.save(torch.jit.script(fit(cnn, x, y)), tmp_path / "cnn.ts")

    code, output, embedded = invoke(
        "embed", tmp_path / "cnn.ts", "--data", tmp_path / "images", "--bits", "16", *QUICK,
        "--out", tmp_path / "wm.ts", "--key", tmp_path / "k.wmk", "--json",
    )  # fmt: skip
    assert code == 0, output
    assert embedded["wsr_after"] == 1.0
    assert isinstance(torch.jit.load(tmp_path / "wm.ts"), torch.jit.ScriptModule)
    assert invoke("verify", tmp_path / "wm.ts", tmp_path / "k.wmk")[0] == 0
    assert invoke("verify", tmp_path / "cnn.ts", tmp_path / "k.wmk")[0] == 1


def test_token_ids_from_an_npz_embed_with_the_pad_id_and_verify(tmp_path: Path) -> None:
    generator = torch.Generator().manual_seed(0)
    x = torch.randint(1, 24, (500, 16), generator=generator)
    y = (x[:, :8].sum(dim=1) > x[:, 8:].sum(dim=1)).long()
    np.savez(tmp_path / "tokens.npz", x=x.numpy(), y=y.numpy())
    torch.manual_seed(0)
    torch.save(fit(build_token_model(), x, y).state_dict(), tmp_path / "base.pt")
    own = ["--model-factory", TOKENS]

    code, output, _ = invoke(
        "embed", *own, "--weights", tmp_path / "base.pt", "--data", tmp_path / "tokens.npz", "--bits", "16",
        *QUICK, "--out", tmp_path / "wm.pt", "--key", tmp_path / "k.wmk",
    )  # fmt: skip
    assert code == 2 and "token sequences need pad_token_id" in output  # no fraction may stand for a token

    code, output, embedded = invoke(
        "embed", *own, "--weights", tmp_path / "base.pt", "--data", tmp_path / "tokens.npz", "--bits", "16",
        "--pad-token-id", "0", *QUICK, "--out", tmp_path / "wm.pt", "--key", tmp_path / "k.wmk", "--json",
    )  # fmt: skip
    assert code == 0, output
    assert embedded["wsr_after"] == 1.0
    assert invoke("verify", *own, "--weights", tmp_path / "wm.pt", tmp_path / "k.wmk")[0] == 0
    assert invoke("verify", *own, "--weights", tmp_path / "base.pt", tmp_path / "k.wmk")[0] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model-factory", "no_such_module_here:build", "--weights", "{w}"], "--model-factory: cannot import"),
        (["--model-factory", f"{__name__}:missing", "--weights", "{w}"], "--model-factory: module"),
        (["--model-factory", FACTORY], "--model-factory: a factory needs the weights file"),
        (["--model-factory", FACTORY, "--weights", "{wrong}"], "--weights: {wrong}: the state dict does not fit"),
        (["--model-factory", FACTORY, "--weights", "{huge}"], "--weights: {huge}: 2,147,483,649 bytes"),
        (["--model-factory", FACTORY, "--weights", "{h5}"], "--weights: {h5}: unknown weights suffix '.h5'"),
        (["{h5}"], "MODEL: {h5}: unknown model file suffix '.h5'"),
        (["--model-factory", FACTORY, "--weights", "{w}", "--data", "{nolabel}"], "--data: {nolabel}: no 'label'"),
        (["--model-factory", FACTORY, "--weights", "{w}", "--data", "{toml}"], "--data: {toml}: unknown data suffix"),
        (["--model-factory", FACTORY, "--weights", "{w}", "--data", "{csv}", "--out", "{o}.safetensors"],
         "--out: {o}.safetensors: the watermarked model is written as it came (state-dict)"),
    ],
)  # fmt: skip
def test_embed_refuses_bad_inputs_naming_the_option_and_writes_nothing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    paths = {name: tmp_path / f for name, f in (("w", "w.pt"), ("wrong", "wrong.pt"), ("huge", "huge.pt"),
             ("h5", "m.h5"), ("nolabel", "nolabel.csv"), ("toml", "d.toml"), ("csv", "d.csv"), ("o", "out/wm"))}  # fmt: skip
    (tmp_path / "out").mkdir()
    torch.save(build_mlp().state_dict(), paths["w"])
    torch.save({"0.weight": torch.zeros(32, 12)}, paths["wrong"])
    with open(paths["huge"], "wb") as stream:
        stream.truncate(2 * 1024**3 + 1)  # sparse
    paths["h5"].write_bytes(b"HDF")
    paths["nolabel"].write_text("a,b\n1,2\n")
    paths["toml"].write_text("x = 1\n")
    tabular_csv(paths["csv"])
    fill = {name: str(path) for name, path in paths.items()}
    command = [a.format(**fill) for a in args]
    if "--out" not in command:
        command += ["--out", str(tmp_path / "out" / "wm.pt")]
    code, output, _ = invoke("embed", *command, "--key", tmp_path / "out" / "k.wmk", *QUICK)
    assert code == 2, output
    assert message.format(**fill) in " ".join(output.split())  # the message may wrap
    assert list((tmp_path / "out").iterdir()) == []


def test_verify_with_a_factory_takes_only_the_key(tmp_path: Path) -> None:
    torch.save(build_mlp().state_dict(), tmp_path / "w.pt")
    (tmp_path / "k.wmk").write_text("{}")
    code, output, _ = invoke(
        "verify",
        "--model-factory",
        FACTORY,
        "--weights",
        tmp_path / "w.pt",
        tmp_path / "w.pt",
        tmp_path / "k.wmk",
    )
    assert code == 2 and "give only the KEY file, not a MODEL file" in output
    code, output, _ = invoke("verify", "--model-factory", FACTORY, "--weights", tmp_path / "w.pt")
    assert code == 2 and "give the watermark KEY file" in output
