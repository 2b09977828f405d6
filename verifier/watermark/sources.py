"""Bring-your-own models: a classifier from the user's own code, weights or exported files, as one callable.

Four ways in, each bounded before it is parsed and none unpickling objects:

* a factory (``MODULE:CALLABLE``, the user's OWN code: importing and calling it runs that code) that builds the
  ``nn.Module``, plus its weights: a ``state_dict`` (``.pt``/``.pth``/``.bin``, read with ``weights_only=True``)
  or ``.safetensors``;
* a TorchScript archive (``torch.jit.save``): ``.ts``, ``.torchscript``, ``.ptc``, or a ``.pt`` holding one;
* an ONNX file, run with onnxruntime: verification only (it cannot be fine-tuned);
* Ledgermark's own model file (``models.save_model``).

Whatever the source, the model is wrapped in ``Classifier``: it takes the float inputs the watermark key holds
(token ids travel as whole floats and are rounded back) and returns logits (B, classes), whether the module
returns a tensor, a tuple, a dict or a Hugging Face ``ModelOutput`` with ``.logits``. ``ModelSource.save``
writes watermarked weights back in the format they came in. Nothing here knows the CLI: a
``ModelSourceError`` names the input at fault (``model``, ``factory`` or ``weights``) and the front end maps it
to its option.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import os
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from verifier.errors import VerifierError
from verifier.watermark import models

MAX_MODEL_BYTES = 2 * 1024**3
"""A model or weights file larger than this is refused before it is opened (2 GiB: 500M float32 weights)."""
MAX_UNPACK_RATIO = 4
"""A zip archive (TorchScript) may unpack to this many times its size: its code records are deflated."""
TORCHSCRIPT_SUFFIXES = (".ts", ".torchscript", ".ptc")
STATE_DICT_SUFFIXES = (".pt", ".pth", ".bin")
FORMATS = ("ledgermark", "state-dict", "safetensors", "torchscript", "onnx")
_OUTPUT_SUFFIXES = {
    "ledgermark": (".pt", ".pth"),
    "state-dict": STATE_DICT_SUFFIXES,
    "safetensors": (".safetensors",),
    "torchscript": (*TORCHSCRIPT_SUFFIXES, ".pt", ".pth"),
}


class ModelSourceError(VerifierError):
    """A model cannot be loaded from what was given; ``input`` names which input is at fault."""

    def __init__(self, message: str, input: str) -> None:
        self.input = input  # "model" | "factory" | "weights" | "out"
        super().__init__(message)


# --------------------------------------------------------------------------- the one callable


class Classifier(nn.Module):
    """Any classifier as ``inputs (B, *shape) float → logits (B, classes)``; parameters are the wrapped
    module's, so fine-tuning the wrapper fine-tunes the user's model in place."""

    def __init__(self, module: nn.Module | Callable[..., Any], token_inputs: bool = False) -> None:
        super().__init__()
        self.module = module
        # inputs are token ids: rounded to int64 before the module sees them (an ONNX model converts its inputs
        # to the type its graph declares itself)
        self.token_inputs = token_inputs and not isinstance(module, OnnxClassifier)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.token_inputs:
            inputs = inputs.round().long()
        return logits_of(self.module(inputs))


def logits_of(output: Any) -> torch.Tensor:
    """The logits in whatever a classifier returns: a tensor, ``.logits`` (Hugging Face), a dict or a tuple."""
    if isinstance(output, dict) and "logits" in output:
        output = output["logits"]
    elif not isinstance(output, torch.Tensor) and hasattr(output, "logits"):
        output = output.logits
    elif isinstance(output, tuple | list) and output:
        output = output[0]
    if not isinstance(output, torch.Tensor) or output.ndim != 2 or not output.is_floating_point():
        shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise VerifierError(f"the model must return logits shaped (batch, classes), not {shape}")
    return output


class OnnxClassifier(nn.Module):
    """An ONNX classifier run by onnxruntime on the CPU: no parameters, no gradient (verification only)."""

    def __init__(self, session: Any) -> None:
        super().__init__()
        self.session = session
        first = session.get_inputs()[0]
        self.input_name = first.name
        self.input_dtype = _ONNX_DTYPES.get(first.type)
        if self.input_dtype is None:
            raise ModelSourceError(
                f"the ONNX model's input {first.name!r} is {first.type}: unsupported", "model"
            )
        batch = first.shape[0] if first.shape else None
        self.batch = (
            batch if isinstance(batch, int) and batch > 0 else None
        )  # a fixed batch size, if exported so

    @property
    def token_inputs(self) -> bool:
        return np.issubdtype(self.input_dtype, np.integer)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        array = inputs.detach().cpu().numpy()
        array = (
            array.round().astype(self.input_dtype) if self.token_inputs else array.astype(self.input_dtype)
        )
        chunks = [array] if self.batch is None else _fixed_batches(array, self.batch)
        outputs = [np.asarray(self.session.run(None, {self.input_name: chunk})[0]) for chunk in chunks]
        return torch.from_numpy(np.concatenate(outputs)[: len(array)].astype(np.float32))


_ONNX_DTYPES: dict[str, Any] = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
}


def _fixed_batches(array: np.ndarray, size: int) -> list[np.ndarray]:
    """A model exported with a fixed batch size: full chunks, the last padded with copies of its last row."""
    chunks = []
    for start in range(0, len(array), size):
        chunk = array[start : start + size]
        if len(chunk) < size:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], size - len(chunk), axis=0)])
        chunks.append(chunk)
    return chunks


# --------------------------------------------------------------------------- sources


@dataclasses.dataclass(frozen=True, eq=False)
class ModelSource:
    """A loaded model and where it came from, so watermarked weights go back in the same format."""

    module: nn.Module  # the user's module (TorchScript, built by the factory, ...) or an OnnxClassifier
    format: str  # one of FORMATS
    path: Path  # the file whose bytes are the model: the weights for a factory, else the model file

    def sha256(self) -> str:
        digest = hashlib.sha256()
        with open(self.path, "rb") as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
        return digest.hexdigest()

    def check_output(self, out: Path) -> None:
        """Refuse, before any fine-tuning, an output this model cannot be written to in its own format."""
        if self.format == "onnx":
            raise ModelSourceError(
                "an ONNX model can be verified but not watermarked: embed into the PyTorch model "
                "(a factory and its weights, or TorchScript) and export it to ONNX afterwards",
                "model",
            )
        suffixes = _OUTPUT_SUFFIXES[self.format]
        if Path(out).suffix.lower() not in suffixes:
            raise ModelSourceError(
                f"{out}: the watermarked model is written as it came ({self.format}), so name it "
                + " or ".join(repr(s) for s in suffixes),
                "out",
            )

    def save(self, out: Path) -> Path:
        """Write the (watermarked) model to ``out`` in the format it was read in, atomically."""
        out = Path(out)
        self.check_output(out)
        if self.format == "ledgermark":
            return models.save_model(self.module, out)
        if self.format == "torchscript":
            models.write_atomic(out, lambda stream: torch.jit.save(self.module, stream))
        elif self.format == "safetensors":
            from safetensors.torch import save

            models.write_atomic(out, lambda stream: stream.write(save(_detached_state(self.module))))
        else:
            models.write_atomic(out, lambda stream: torch.save(_detached_state(self.module), stream))
        return out


def open_model(
    model: Path | None = None, *, factory: str | None = None, weights: Path | None = None
) -> ModelSource:
    """Load a model from a file (by suffix) or from a factory and its weights; the model is in eval mode."""
    if factory is not None or weights is not None:
        if model is not None:
            raise ModelSourceError(
                "give either a model file or a factory with its weights, not both", "model"
            )
        if factory is None:
            raise ModelSourceError(
                "weights need the factory that builds their model (MODULE:CALLABLE)", "weights"
            )
        if weights is None:
            raise ModelSourceError(
                "a factory needs the weights file (a state_dict .pt or .safetensors) to load into its model",
                "factory",
            )
        return _from_factory(factory, Path(weights))
    if model is None:
        raise ModelSourceError("no model given: a model file, or a factory with its weights", "model")
    return _from_file(Path(model))


def file_format(path: Path) -> str:
    """Which format a model file is in, by suffix (a ``.pt`` is TorchScript if its archive holds code)."""
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return "onnx"
    if suffix in TORCHSCRIPT_SUFFIXES:
        return "torchscript"
    if suffix in (".pt", ".pth"):
        return "torchscript" if _is_torchscript_archive(path) else "ledgermark"
    known = ", ".join((".onnx", *TORCHSCRIPT_SUFFIXES, ".pt", ".pth"))
    raise ModelSourceError(
        f"{path}: unknown model file suffix {suffix or '(none)'!r}; known: {known} "
        "(or build it with a factory and load its weights)",
        "model",
    )


def _from_file(path: Path) -> ModelSource:
    kind = file_format(path)
    _check_size(path, "model")
    if kind == "onnx":
        return ModelSource(_load_onnx(path), "onnx", path)
    if kind == "torchscript":
        return ModelSource(_load_torchscript(path), "torchscript", path)
    try:
        return ModelSource(models.load_model(path), "ledgermark", path)
    except models.ModelFileError as err:
        raise ModelSourceError(str(err), "model") from None


def _from_factory(factory: str, weights: Path) -> ModelSource:
    builder = load_factory(factory)
    _check_size(weights, "weights")
    suffix = weights.suffix.lower()
    if suffix == ".safetensors":
        state, kind = _read_safetensors(weights), "safetensors"
    elif suffix in STATE_DICT_SUFFIXES:
        state, kind = _read_state_dict(weights), "state-dict"
    else:
        raise ModelSourceError(
            f"{weights}: unknown weights suffix {suffix or '(none)'!r}; known: .safetensors, "
            + ", ".join(STATE_DICT_SUFFIXES),
            "weights",
        )
    module = _build(builder, factory)
    try:
        models._check_state_dict(weights, module.state_dict(), state)
    except models.StateDictMismatch as err:
        raise ModelSourceError(str(err), "weights") from None
    module.load_state_dict(state)
    return ModelSource(module.eval(), kind, weights)


def load_factory(spec: str) -> Callable[[], Any]:
    """The callable ``MODULE:CALLABLE`` names. Importing the module runs it: the user's own code.

    The current directory is searched first (as ``python -m`` and uvicorn do), so ``mymodels:build`` finds
    ``./mymodels.py``.
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ModelSourceError(
            f"{spec!r} is not MODULE:CALLABLE (for example mypackage.models:build)", "factory"
        )
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ModelSourceError(f"cannot import {module_name!r}: {err}", "factory") from None
    target: Any = module
    for part in attribute.split("."):
        target = getattr(target, part, None)
    if not callable(target):
        raise ModelSourceError(f"module {module_name!r} has no callable {attribute!r}", "factory")
    return target


def _build(builder: Callable[[], Any], spec: str) -> nn.Module:
    try:
        module = builder()
    except Exception as err:  # the user's code: any failure is theirs to read, not a traceback of ours
        raise ModelSourceError(f"{spec}() raised {type(err).__name__}: {err}", "factory") from err
    if not isinstance(module, nn.Module):
        raise ModelSourceError(f"{spec}() returned {type(module).__name__}, not a torch.nn.Module", "factory")
    return module


# --------------------------------------------------------------------------- readers (bounded, no pickles)


def _check_size(path: Path, input: str) -> None:
    if not path.is_file():
        raise ModelSourceError(f"{path}: no such file", input)
    size = path.stat().st_size
    if size > MAX_MODEL_BYTES:
        raise ModelSourceError(
            f"{path}: {size:,} bytes, more than the {MAX_MODEL_BYTES:,} a model may have: refused unread",
            input,
        )


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A ``torch.save``d state_dict (or ``{"state_dict": ...}``), unpacked only if it cannot grow past its size."""
    try:
        models._check_archive(path)
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except models.ModelFileError as err:
        raise ModelSourceError(str(err), "weights") from None
    except Exception as err:  # torch raises many types for foreign bytes; all mean the same here
        raise ModelSourceError(
            f"{path}: not a torch state_dict file (corrupt, or holding objects other than tensors)", "weights"
        ) from err
    if isinstance(payload, dict) and isinstance(payload.get("state_dict"), dict):
        payload = payload["state_dict"]
    if not isinstance(payload, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in payload.items()
    ):
        raise ModelSourceError(f"{path}: not a state_dict (a dict of names to tensors)", "weights")
    return payload


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(path, device="cpu")
    except (SafetensorError, OSError, ValueError) as err:
        raise ModelSourceError(f"{path}: not a readable safetensors file ({err})", "weights") from None


def _load_torchscript(path: Path) -> nn.Module:
    """A TorchScript archive: TorchScript code (not Python), bounded so it cannot unpack to far more than it is."""
    _check_zip(path, "model")
    try:
        return torch.jit.load(str(path), map_location="cpu").eval()
    except Exception as err:  # RuntimeError and friends for anything that is not an archive torch wrote
        raise ModelSourceError(f"{path}: not a readable TorchScript archive", "model") from err


def _load_onnx(path: Path) -> OnnxClassifier:
    """An ONNX model from its bytes, so it cannot pull external data files from beside it."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    try:
        session = onnxruntime.InferenceSession(
            path.read_bytes(), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as err:  # onnxruntime raises its own Fail/InvalidGraph types, not a common base
        raise ModelSourceError(f"{path}: not a readable ONNX model ({str(err)[:200]})", "model") from err
    if len(session.get_inputs()) != 1:
        raise ModelSourceError(f"{path}: an ONNX classifier here takes exactly one input", "model")
    return OnnxClassifier(session)


def _is_torchscript_archive(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return any("/code/" in name for name in archive.namelist()[:4096])
    except (zipfile.BadZipFile, OSError):
        return False


def _check_zip(path: Path, input: str) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(record.file_size for record in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        raise ModelSourceError(f"{path}: not a readable TorchScript archive", input) from None
    if unpacked > MAX_UNPACK_RATIO * path.stat().st_size + (1 << 20):
        raise ModelSourceError(
            f"{path}: unpacks to {unpacked:,} bytes, far more than the file holds: refused before unpacking",
            input,
        )


# --------------------------------------------------------------------------- writing


def _detached_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """Contiguous CPU copies: safetensors refuses tensors that share memory (tied weights), so none do."""
    return {name: value.detach().cpu().contiguous().clone() for name, value in module.state_dict().items()}
