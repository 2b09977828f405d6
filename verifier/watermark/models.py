"""Classifier architectures and the Ledgermark model file (DESIGN.md §8).

Everything is plain torch (no torchvision on the target machines):

* ``ResNet18``: the CIFAR-style ResNet-18 (He et al., "Deep Residual Learning for Image Recognition", 2016,
  with the 3×3 stride-1 stem and no max-pool used for 32×32 inputs), with a width multiplier;
* ``SmallCNN``: the 3-layer CNN used to calibrate the watermark (DESIGN.md §7);
* ``MLP``: for tabular rows and 1-D sequences.

A model file is ``torch.save({"format", "version", "spec", "state_dict"})``.  It is read with
``weights_only=True``: a suspect model is untrusted input, and unpickling it must never run code.  The
``ModelSpec`` travels with the weights so that a verifier can rebuild the network without the owner's code.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import torch
from torch import nn

from verifier.errors import VerifierError
from verifier.integrity import documents

logger = logging.getLogger(__name__)

FORMAT = "ledgermark-model"
VERSION = 1
ARCHS = ("resnet18", "cnn", "mlp")
MAX_PARAMETERS = 64_000_000
"""A ResNet-18 of width 64 has 11M parameters, of width 128 about 45M; 64M floats is 256 MB of weights."""
MAX_ACTIVATIONS = 100_000_000
"""Elements of every layer's output for one example (400 MB of float32): the CIFAR-style ResNet-18 (no early
down-sampling) needs 1.7M at 32×32 and 82M at 224×224 RGB."""
MAX_INPUT_DIMS = 4
MAX_DIMENSION = 2**20
MAX_HIDDEN_LAYERS = 64


class ModelFileError(VerifierError):
    """A model file or spec cannot be used: missing, corrupt, foreign, unsupported, or not matching its spec."""


class ModelTooLargeError(ModelFileError):
    """A spec asks for more parameters or activation memory than a verifier allots; refused before building."""


class StateDictMismatch(ModelFileError):
    """The weights do not fit the architecture the spec names; the differences are kept as fields."""

    def __init__(
        self,
        path: Path,
        missing: list[str],
        unexpected: list[str],
        mismatched: dict[str, tuple[tuple[int, ...], tuple[int, ...]]],
    ) -> None:
        self.path = path
        self.missing = missing  # keys the architecture needs but the file lacks
        self.unexpected = unexpected  # keys in the file the architecture does not have
        self.mismatched = mismatched  # key -> (expected shape, actual shape)
        parts = []
        if missing:
            parts.append(f"missing keys {missing}")
        if unexpected:
            parts.append(f"unexpected keys {unexpected}")
        if mismatched:
            shapes = {k: f"expected {list(e)}, got {list(a)}" for k, (e, a) in mismatched.items()}
            parts.append(f"shape mismatch {shapes}")
        super().__init__(f"{path}: the state dict does not fit the spec: {'; '.join(parts)}")


# --------------------------------------------------------------------------------------------------------------
# Architectures


class BasicBlock(nn.Module):
    """Two 3×3 conv-BN layers with an identity (or 1×1 projection) shortcut."""

    def __init__(self, in_ch: int, out_ch: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))  # (B, out, H/s, W/s)
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    """CIFAR-style ResNet-18; ``width=64`` is the standard network (about 11M parameters)."""

    def __init__(self, num_classes: int, in_channels: int = 1, width: int = 64) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        stages, in_ch = [], width
        for i, stride in enumerate((1, 2, 2, 2)):
            out_ch = width * 2**i
            stages.append(nn.Sequential(BasicBlock(in_ch, out_ch, stride), BasicBlock(out_ch, out_ch, 1)))
            in_ch = out_ch
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(in_ch, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)  # (B, w, H, W)
        x = self.stages(x)  # (B, 8w, H/8, W/8): 4×4 at 32×32, 1×1 at 8×8
        x = self.pool(x).flatten(1)  # (B, 8w)
        return self.head(x)  # (B, num_classes)


class SmallCNN(nn.Module):
    """Three 3×3 conv layers without BatchNorm (so fine-tuning has no running statistics to guard)."""

    def __init__(self, num_classes: int, in_channels: int = 1, width: int = 32) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1)
        self.conv3 = nn.Conv2d(2 * width, 2 * width, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.head = nn.Linear(2 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(torch.relu(self.conv1(x)))  # (B, w, H/2, W/2)
        x = self.pool(torch.relu(self.conv2(x)))  # (B, 2w, H/4, W/4)
        x = torch.relu(self.conv3(x))  # (B, 2w, H/4, W/4)
        x = nn.functional.adaptive_avg_pool2d(x, 1).flatten(1)  # (B, 2w)
        return self.head(x)  # (B, num_classes)


class MLP(nn.Module):
    """Flatten, then ReLU hidden layers and a linear head."""

    def __init__(self, num_classes: int, in_features: int, hidden: tuple[int, ...] = (64, 64)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for size in hidden:
            layers += [nn.Linear(in_features, size), nn.ReLU()]
            in_features = size
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(in_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.body(x.flatten(1))  # (B, hidden[-1])
        return self.head(x)  # (B, num_classes)


# --------------------------------------------------------------------------------------------------------------
# Spec


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild an architecture; stored in the model file next to the weights."""

    arch: str  # "resnet18" | "cnn" | "mlp"
    num_classes: int
    input_shape: tuple[int, ...]  # one example, no batch dim: (C, H, W) for images, (F,) for tabular rows
    width: int = 64  # base channel count of resnet18 / cnn; ignored by mlp
    hidden: tuple[int, ...] = (64, 64)  # mlp hidden sizes; ignored by resnet18 / cnn

    def build(self) -> nn.Module:
        """A freshly initialised module, with ``module.spec = self`` so that the spec travels with it."""
        self._check()
        if self.arch == "resnet18":
            module: nn.Module = ResNet18(self.num_classes, self.input_shape[0], self.width)
        elif self.arch == "cnn":
            module = SmallCNN(self.num_classes, self.input_shape[0], self.width)
        else:
            module = MLP(self.num_classes, math.prod(self.input_shape), self.hidden)
        module.spec = self
        return module

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only (tuples become lists), so ``weights_only`` loading can read it back."""
        return {
            "arch": self.arch,
            "num_classes": self.num_classes,
            "input_shape": list(self.input_shape),
            "width": self.width,
            "hidden": list(self.hidden),
        }

    @classmethod
    def from_dict(cls, data: Any) -> ModelSpec:
        """Inverse of ``to_dict``; anything malformed raises ``ModelFileError``."""
        if not isinstance(data, dict):
            raise ModelFileError(f"a model spec is a dict, not {type(data).__name__}")
        fields = {f.name for f in dataclasses.fields(cls)}
        if unknown := sorted(set(data) - fields):
            raise ModelFileError(f"unknown model spec fields {unknown}")
        try:
            spec = cls(
                arch=documents.text(data["arch"], "arch", _SPEC, max_length=32),
                num_classes=_dimension(data["num_classes"], "num_classes"),
                input_shape=_dimensions(data["input_shape"], "input_shape", MAX_INPUT_DIMS),
                width=_dimension(data.get("width", 64), "width"),
                hidden=_dimensions(data.get("hidden", (64, 64)), "hidden", MAX_HIDDEN_LAYERS),
            )
        except KeyError as exc:
            raise ModelFileError(f"model spec lacks the field {exc.args[0]!r}") from None
        except documents.DocumentError as exc:
            raise ModelFileError(str(exc)) from None
        spec._check()
        return spec

    def parameter_count(self) -> int:
        """The number of trainable parameters ``build`` would allocate, computed from the spec alone."""
        classes, width = self.num_classes, self.width
        if self.arch == "mlp":
            sizes = (math.prod(self.input_shape), *self.hidden, classes)
            return sum(a * b + b for a, b in itertools.pairwise(sizes))
        channels = self.input_shape[0]
        if self.arch == "cnn":
            convs = ((channels, width), (width, 2 * width), (2 * width, 2 * width))
            return sum(9 * a * b + b for a, b in convs) + 2 * width * classes + classes
        count, in_ch = 9 * channels * width + 2 * width, width  # resnet18: stem conv (no bias) and its BN
        for i in range(4):
            out = width * 2**i
            count += 9 * in_ch * out + 9 * out * out + 4 * out  # first block: two convs, two BNs
            count += (in_ch * out + 2 * out) if (i > 0 or in_ch != out) else 0  # its projection shortcut
            count += 2 * (9 * out * out + 2 * out)  # second block
            in_ch = out
        return count + in_ch * classes + classes

    def activation_count(self) -> int:
        """Elements of the layers' outputs for one example (an upper bound), computed from the spec alone."""
        if self.arch == "mlp":
            return math.prod(self.input_shape) + 2 * sum(self.hidden) + self.num_classes
        _, height, width = self.input_shape
        pixels = height * width
        if self.arch == "cnn":
            return 2 * self.width * pixels + 2 * self.width * pixels // 2 + self.num_classes + pixels
        # resnet18: 3 outputs in the stem, ~12 per stage (convs, BNs, ReLUs, shortcut); each stage has twice
        # the channels on a quarter of the pixels
        stages = sum(12 * self.width * 2**i * max(1, pixels // 4**i) for i in range(4))
        return 3 * self.width * pixels + stages + self.num_classes

    def _check(self) -> None:
        if self.arch not in ARCHS:
            raise ModelFileError(f"unknown architecture {self.arch!r}; known: {', '.join(ARCHS)}")
        if self.num_classes < 1 or not self.input_shape or min(self.input_shape) < 1:
            raise ModelFileError(f"invalid num_classes/input_shape in {self}")
        if self.arch != "mlp" and (len(self.input_shape) != 3 or self.width < 1):
            raise ModelFileError(f"{self.arch} needs input_shape (C, H, W) and width >= 1, got {self}")
        if self.arch == "mlp" and min(self.hidden, default=1) < 1:
            raise ModelFileError(f"mlp hidden sizes must be positive, got {self.hidden}")
        self._check_budget()

    def _check_budget(self) -> None:
        """Refuse a spec whose network would not fit a verifier's memory, before a byte of it is allocated:
        a model file of 1.5 KB can ask for an MLP of width 20000 (400M parameters, 1.6 GB)."""
        parameters, activations = self.parameter_count(), self.activation_count()
        if parameters > MAX_PARAMETERS:
            raise ModelTooLargeError(
                f"the model spec asks for {parameters:,} parameters ({self.arch}; at most "
                f"{MAX_PARAMETERS:,}): refused before building it"
            )
        if activations > MAX_ACTIVATIONS:
            raise ModelTooLargeError(
                f"the model spec's {self.arch} on inputs {self.input_shape} needs {activations:,} activations "
                f"per example (at most {MAX_ACTIVATIONS:,}): refused before building it"
            )


_SPEC = "model spec"


def _dimension(value: object, field: str) -> int:
    """A size in a spec: a whole number (no bool, float or string), bounded so products stay small."""
    return documents.integer(value, field, _SPEC, low=0, below=MAX_DIMENSION + 1)


def _dimensions(value: object, field: str, max_items: int) -> tuple[int, ...]:
    if isinstance(value, tuple):
        value = list(value)
    items = documents.array(value, field, _SPEC, max_items=max_items)
    return tuple(_dimension(item, f"{field} item") for item in items)


# --------------------------------------------------------------------------------------------------------------
# Model files


def save_model(model: nn.Module, path: Path, spec: ModelSpec | None = None) -> Path:
    """Write ``model`` atomically (temp file in the same folder, then ``os.replace``): never half a file."""
    spec = spec if spec is not None else getattr(model, "spec", None)
    if not isinstance(spec, ModelSpec):
        raise ModelFileError("the model carries no ModelSpec; build it with ModelSpec.build() or pass spec=")
    path = Path(path)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "spec": spec.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    write_atomic(path, lambda f: torch.save(payload, f))
    logger.info("saved %s model to %s", spec.arch, path)
    return path


def write_atomic(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """``write`` a model into a temp file in the same folder, then ``os.replace``: never half a model under
    the final name."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o644)  # a model is meant to be shared (mkstemp creates 0600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_model(path: Path) -> nn.Module:
    """Rebuild the model a file describes, in eval mode, with ``.spec`` set; never unpickles objects."""
    path = Path(path)
    payload = _read_payload(path)
    spec = _read_spec(path, payload)
    state = payload.get("state_dict")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelFileError(f"{path}: 'state_dict' is not a dict of tensors")
    model = spec.build()
    _check_state_dict(path, model.state_dict(), state)
    model.load_state_dict(state)
    return model.eval()


def _read_payload(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    _check_archive(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for foreign bytes; all mean the same to the caller
        raise ModelFileError(
            f"{path}: not a readable torch file (corrupt, truncated, or holding non-tensor objects)"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a Ledgermark model file (no format marker {FORMAT!r})")
    if payload.get("version") != VERSION:
        raise ModelFileError(
            f"{path}: unsupported model file version {payload.get('version')!r} (supported: {VERSION})"
        )
    return payload


def _check_archive(path: Path) -> None:
    """Refuse a model file that would unpack to more than its own size, before ``torch.load`` unpacks it.

    ``torch.save`` writes a zip whose records are stored, never compressed; a deflated record is how a 200 KB
    file makes ``torch.load`` allocate 200 MB (or 20 GB), before any spec could be checked.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            records = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise ModelFileError(
            f"{path}: not a readable torch file (corrupt, truncated, or holding non-tensor objects)"
        ) from None
    unpacked = sum(record.file_size for record in records)
    if unpacked > path.stat().st_size or any(
        record.compress_type != zipfile.ZIP_STORED or record.file_size != record.compress_size
        for record in records
    ):
        raise ModelTooLargeError(
            f"{path}: its records are compressed or unpack to {unpacked:,} bytes, more than the file holds "
            "(torch.save stores them uncompressed): refused before unpacking"
        )


def _read_spec(path: Path, payload: dict[str, Any]) -> ModelSpec:
    try:
        return ModelSpec.from_dict(payload.get("spec"))
    except ModelFileError as exc:
        raise type(exc)(f"{path}: {exc}") from None  # keeps ModelTooLargeError for the API's status


def _check_state_dict(path: Path, expected: dict[str, torch.Tensor], actual: dict[str, torch.Tensor]) -> None:
    """Compare keys and shapes up front so the error lists every difference, not torch's first one."""
    missing = sorted(set(expected) - set(actual))
    unexpected = sorted(set(actual) - set(expected))
    mismatched = {
        k: (tuple(expected[k].shape), tuple(actual[k].shape))
        for k in sorted(set(expected) & set(actual))
        if expected[k].shape != actual[k].shape
    }
    if missing or unexpected or mismatched:
        raise StateDictMismatch(path, missing, unexpected, mismatched)
