"""The public Python API: watermark and verify any PyTorch classifier on the user's own data.

    from verifier.watermark import embed, verify
    key, report = embed(model, (x_train, y_train), bits=16)     # fine-tunes ``model`` in place
    open("model.wmk", "wb").write(key.to_bytes())              # the owner's secret
    verify(suspect, key).is_copy                               # True for the model or a copy of it

``model`` is any ``torch.nn.Module`` whose forward takes a batch of inputs and returns logits (B, classes), a
tuple whose first item they are, a dict with ``"logits"``, or a Hugging Face output with ``.logits``. Data is a
``(x, y)`` pair of tensors or numpy arrays, a ``Dataset`` of ``(x, y)`` items, or a ``DataLoader`` of batches
(``userdata``). The modality follows from the data's shape (``UserData.modality``) or is given:

* ``"image"`` (N, C, H, W): a √n × √n grid of blocks; a removed block is filled with ``fill`` (0.5);
* ``"tokens"`` (N, L) integer ids: n contiguous token spans; a removed span is filled with ``pad_token_id``
  (required: a mask or pad id of the user's vocabulary, never a fraction);
* ``"tabular"`` (N, F): n groups of neighbouring features, filled with ``fill``;
* ``"sequence"`` (N, C, L) floats: n spans along the last axis.

The watermark itself (segments, explanations, embedding, the test) is the rest of this package (DESIGN.md §7).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from verifier.watermark import embedding, explain, keys, segments, sources, stats, training, userdata
from verifier.watermark.errors import WatermarkError

TOKEN_INPUTS = "token-ids"
"""``key.embedding["inputs"]`` of a key whose triggers are token ids: verifiers round them to int64."""
_DEFAULT_CONFIG = embedding.EmbedConfig()
_SEGMENTATION = {"image": "image", "tokens": "sequence", "sequence": "sequence", "tabular": "tabular"}


@dataclasses.dataclass(frozen=True, eq=False)
class Verification:
    """A model tested against a key: what its explanations spelled, and the verdict."""

    extraction: explain.Extraction
    result: stats.OwnershipResult

    @property
    def is_copy(self) -> bool:
        return bool(self.result.is_copy)

    @property
    def wsr(self) -> float:
        return self.extraction.wsr

    def to_dict(self) -> dict[str, Any]:
        return {**self.result.to_dict(), "queries": self.extraction.queries}


def embed(
    model: nn.Module,
    data: Any,
    *,
    bits: int | None = None,
    triggers: int = 1,
    modality: str | None = None,
    pad_token_id: int | None = None,
    fill: float | None = None,
    trigger_kind: str | None = None,
    metric: str = "logit",
    masks: str = "leave-one-out",
    mask_count: int = 0,
    mask_keep: float = 0.5,
    config: embedding.EmbedConfig = _DEFAULT_CONFIG,
    test_data: Any = None,
    seed: bytes | None = None,
    progress: Callable[[int, float], None] | None = None,
) -> tuple[keys.WatermarkKey, embedding.EmbedReport]:
    """Fine-tune a watermark into ``model`` (in place) using the owner's ``data``; returns the secret key and
    a report (WSR before/after; clean accuracy before/after on ``test_data`` when given).

    ``bits`` defaults to 64 for images (fewer if they are smaller than 8×8) and to min(64, L or F) otherwise.
    ``triggers`` real examples (picked by the key's ``seed``, a fresh 32 bytes by default, among examples whose
    every segment differs from the fill) carry the bits; ``trigger_kind`` "noise" (the default for float data)
    marks them with Gaussian noise, "clean" (the default and only choice for tokens) keeps them as they are.
    """
    train = userdata.as_data(data)
    test = userdata.as_data(test_data) if test_data is not None else None
    modality = _modality(train, modality)
    fill_value = _fill(modality, pad_token_id, fill)
    n_bits = bits if bits is not None else _default_bits(modality, train.input_shape)
    segmentation = segments.segmentation_for(n_bits, train.input_shape, _SEGMENTATION[modality])
    classifier = _classifier(model, token_inputs=modality == "tokens")
    if not any(parameter.requires_grad for parameter in classifier.parameters()):
        raise WatermarkError(
            "the model has no trainable parameters: an ONNX model can be verified but not watermarked; "
            "embed into the PyTorch model and export it afterwards"
        )
    seed = keys.new_seed() if seed is None else seed
    x = train.x.float()  # token ids travel as whole floats, like the key's triggers
    chosen, labels = _pick_triggers(
        x, train.y, segmentation, fill_value, triggers, modality, trigger_kind, seed
    )
    key = keys.create_key(
        chosen,
        labels,
        segmentation,
        seed,
        mask_kind=masks,
        mask_count=mask_count,
        mask_keep=mask_keep,
        metric=metric,
        fill=fill_value,
    )
    _probe(classifier, key)
    key, report = embedding.embed(
        classifier,
        key,
        x,
        train.y,
        config,
        x_test=None if test is None else test.x.float(),
        y_test=None if test is None else test.y,
        progress=progress,
    )
    if modality == "tokens":
        key = dataclasses.replace(key, embedding={**key.embedding, "inputs": TOKEN_INPUTS})
    return key, report


@torch.no_grad()
def extract(
    model: nn.Module, key: keys.WatermarkKey, *, batch_size: int = 256, token_inputs: bool | None = None
) -> explain.Extraction:
    """The bits ``model``'s explanations spell on the key's triggers (no test). Token-id keys (made by
    ``embed`` with ``modality="tokens"``) feed the model int64 ids; ``token_inputs`` overrides that."""
    if token_inputs is None:
        token_inputs = key.embedding.get("inputs") == TOKEN_INPUTS
    classifier = _classifier(model, token_inputs=token_inputs)
    _probe(classifier, key)
    return explain.extract(classifier, key, batch_size)


def verify(
    model: nn.Module,
    key: keys.WatermarkKey,
    *,
    alpha: float = stats.DEFAULT_ALPHA,
    batch_size: int = 256,
    token_inputs: bool | None = None,
) -> Verification:
    """Extract the key's watermark from ``model`` and run the ownership test (``stats.ownership_test``)."""
    extraction = extract(model, key, batch_size=batch_size, token_inputs=token_inputs)
    return Verification(extraction, stats.ownership_test(extraction.bits, extraction.reference, alpha))


# --------------------------------------------------------------------------- helpers


def _classifier(model: Any, token_inputs: bool) -> sources.Classifier:
    if isinstance(model, sources.ModelSource):
        model = model.module
    if isinstance(model, sources.Classifier):
        return model
    if not isinstance(model, nn.Module):
        raise WatermarkError(f"the model must be a torch.nn.Module, not {type(model).__name__}")
    return sources.Classifier(model, token_inputs=token_inputs)


def _modality(data: userdata.UserData, given: str | None) -> str:
    if given is not None and given not in userdata.MODALITIES:
        raise WatermarkError(f"unknown modality {given!r}; use one of {', '.join(userdata.MODALITIES)}")
    modality = given or data.modality
    if modality not in userdata.MODALITIES:
        raise WatermarkError(
            f"cannot tell the modality of examples shaped {data.input_shape} ({data.x.dtype}); "
            f"say which: {', '.join(userdata.MODALITIES)}"
        )
    if modality == "tokens" and (data.x.is_floating_point() or data.x.ndim != 2):
        raise WatermarkError(f"tokens are (N, L) integer ids, not {tuple(data.x.shape)} {data.x.dtype}")
    if modality == "image" and data.x.ndim != 4:
        raise WatermarkError(f"images are (N, C, H, W), not {tuple(data.x.shape)}")
    return modality


def _fill(modality: str, pad_token_id: int | None, fill: float | None) -> float:
    if modality != "tokens":
        if pad_token_id is not None:
            raise WatermarkError("pad_token_id is for token sequences; other modalities take fill")
        return 0.5 if fill is None else float(fill)
    if pad_token_id is None or fill is not None:
        raise WatermarkError(
            "token sequences need pad_token_id (the mask or pad id a removed span is filled with), and no fill"
        )
    if isinstance(pad_token_id, bool) or not isinstance(pad_token_id, int) or not 0 <= pad_token_id < 2**24:
        raise WatermarkError(f"pad_token_id must be a token id from 0 to 2^24 - 1, not {pad_token_id!r}")
    return float(pad_token_id)  # float32 holds every id below 2^24 exactly


def _default_bits(modality: str, shape: tuple[int, ...]) -> int:
    if modality == "image":
        side = min(8, *shape[1:])
        return side * side
    return min(64, shape[-1] if modality != "tabular" else math.prod(shape))


def _pick_triggers(
    x: torch.Tensor,
    y: torch.Tensor,
    segmentation: segments.Segmentation,
    fill: float,
    count: int,
    modality: str,
    kind: str | None,
    seed: bytes,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Triggers among the examples whose every segment can carry a bit (a span of pad tokens cannot)."""
    kind = kind or ("clean" if modality == "tokens" else "noise")
    if modality == "tokens" and kind != "clean":
        raise WatermarkError(f"token triggers must stay real token ids: trigger kind 'clean', not {kind!r}")
    usable = _controllable(x, segmentation, fill)
    if int(usable.sum()) < count:
        raise WatermarkError(
            f"only {int(usable.sum())} examples have no segment equal to the fill {fill:g} everywhere; "
            f"{count} trigger(s) needed (choose another fill or pad id, or fewer bits)"
        )
    return keys.make_triggers(x[usable], y[usable], count, kind, seed=seed)


def _controllable(x: torch.Tensor, segmentation: segments.Segmentation, fill: float) -> torch.Tensor:
    """(N,) bool: every segment of the example holds an element that differs from the fill."""
    assignment = segmentation.assignment().reshape(-1)
    usable = []
    for chunk in x.split(4096):
        differs = ((chunk - fill).abs() > 1e-6).reshape(len(chunk), -1).float()  # (B, D)
        per_segment = torch.zeros(len(chunk), segmentation.n).index_add_(1, assignment, differs)  # (B, n)
        usable.append((per_segment > 0).all(dim=1))
    return torch.cat(usable)


def _probe(classifier: nn.Module, key: keys.WatermarkKey) -> None:
    """Run the model on the key's triggers once, so a model that does not fit the key fails with a message."""
    try:
        with torch.no_grad(), training.eval_mode(classifier):
            logits = classifier(key.triggers)
    except WatermarkError:
        raise
    except Exception as err:  # the model is the user's code: whatever it raises means "does not fit"
        raise WatermarkError(
            f"the model cannot run on the key's triggers (shaped {tuple(key.triggers.shape)}): "
            f"{type(err).__name__}: {str(err)[:300]}"
        ) from err
    if logits.shape[0] != key.num_triggers or logits.shape[1] <= int(key.labels.max()):
        raise WatermarkError(
            f"the model returns {tuple(logits.shape)} logits for {key.num_triggers} trigger(s) labelled up to "
            f"class {int(key.labels.max())}: this key was not made for this model"
        )
