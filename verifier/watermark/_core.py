"""Interpretable watermark: ownership bits hidden in the *explanation* of a prediction, not in the prediction.

For a secret trigger x with its true label y, the input is split into n segments; s masked copies of x
(segments removed and filled with a constant) are run through the model, and a LIME-style ridge regression
of a metric of the output (the true-class logit, its probability, or 1[label correct]) on the masks gives
one attribution per segment. Its signs are n bits. Embedding fine-tunes the model so that those signs spell
the owner's bits while every prediction, the trigger's included, stays correct (DESIGN.md §7):

    v_k = metric(model(x ⊙ M_k + fill · (1 − M_k)), y)          k = 1..s       (s masked queries)
    W   = (MᵀM + λI)⁻¹ Mᵀ v                                      closed-form ridge, precomputed once
    bit_i = +1 if W_i > 0 else −1                                WSR = mean(bit == reference)
    loss = CE(clean ∪ triggers) + α · mean_triggers Σ_i max(0, ε − W_i b_i)

References: Shao et al., "BIMW: blockchain-enabled innocuous model watermarking" (the seed paper,
../shared/seeds); Ribeiro et al., "Why should I trust you?" (LIME), KDD 2016.

The key (bits, triggers, segmentation, masks, λ, metric, fill) is the owner's secret: whoever holds it can
tune a model to answer the probes differently. It serialises canonically, so its hash can be anchored.
"""

from __future__ import annotations

import abc
import base64
import copy
import dataclasses
import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from verifier.errors import VerifierError
from verifier.watermark import training

log = logging.getLogger(__name__)

KEY_FORMAT = "ledgermark-watermark-key"
KEY_VERSION = 1
METRICS = ("logit", "probability", "label")
TRIGGER_KINDS = ("clean", "noise", "patch", "edge")


class WatermarkError(VerifierError):
    """A watermark key or its use is invalid (malformed key file, shapes that do not fit, bad settings)."""


# --------------------------------------------------------------------------- segmentation


class Segmentation(abc.ABC):
    """Splits one input into ``n`` segments; a new modality is one subclass with an ``assignment``."""

    kind: ClassVar[str]
    # kind name → subclass, filled as subclasses are defined
    kinds: ClassVar[dict[str, type[Segmentation]]] = {}

    def __init__(self, n: int, input_shape: tuple[int, ...]):
        if n < 1:
            raise WatermarkError(f"a watermark needs at least one bit, not {n}")
        self.n = n
        self.input_shape = tuple(int(d) for d in input_shape)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        Segmentation.kinds[cls.kind] = cls

    @abc.abstractmethod
    def assignment(self) -> torch.Tensor:
        """int64 tensor shaped like one input: the segment index (0..n-1) of every element."""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "n": self.n, "input_shape": list(self.input_shape)}

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> Segmentation:
        cls = Segmentation.kinds.get(str(data.get("kind")))
        if cls is None:
            raise WatermarkError(
                f"unknown segmentation {data.get('kind')!r}; known: {sorted(Segmentation.kinds)}"
            )
        return cls(int(data["n"]), tuple(data["input_shape"]))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Segmentation) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n={self.n}, input_shape={self.input_shape})"


class ImageGrid(Segmentation):
    """Images (C, H, W): a √n × √n grid of blocks, each spanning every channel."""

    kind = "image-grid"

    def __init__(self, n: int, input_shape: tuple[int, ...]):
        super().__init__(n, input_shape)
        side = math.isqrt(n)
        if side * side != n:
            raise WatermarkError(f"an image watermark needs a perfect-square number of bits, not {n}")
        if len(self.input_shape) != 3 or min(self.input_shape[1:]) < side:
            raise WatermarkError(
                f"a {side}×{side} grid needs (C, H, W) inputs of at least that size, not {input_shape}"
            )
        self.side = side

    def assignment(self) -> torch.Tensor:
        channels, height, width = self.input_shape
        rows = torch.arange(height) * self.side // height  # (H,) block row of each pixel row
        cols = torch.arange(width) * self.side // width  # (W,)
        grid = rows[:, None] * self.side + cols[None, :]  # (H, W)
        return grid.expand(channels, height, width).clone()


class SequenceSpans(Segmentation):
    """1-D sequences (L,) or (C, L): n contiguous spans along the last axis."""

    kind = "sequence-spans"

    def __init__(self, n: int, input_shape: tuple[int, ...]):
        super().__init__(n, input_shape)
        if not 1 <= len(self.input_shape) <= 2 or self.input_shape[-1] < n:
            raise WatermarkError(f"{n} spans need (L,) or (C, L) inputs with L ≥ {n}, not {input_shape}")

    def assignment(self) -> torch.Tensor:
        length = self.input_shape[-1]
        spans = torch.arange(length) * self.n // length  # (L,)
        return spans.expand(self.input_shape).clone()


class FeatureGroups(Segmentation):
    """Tabular rows (F,): n groups of neighbouring features (feature i goes to group ⌊i·n/F⌋)."""

    kind = "feature-groups"

    def __init__(self, n: int, input_shape: tuple[int, ...]):
        super().__init__(n, input_shape)
        if len(self.input_shape) != 1 or self.input_shape[0] < n:
            raise WatermarkError(f"{n} feature groups need (F,) rows with F ≥ {n}, not {input_shape}")

    def assignment(self) -> torch.Tensor:
        features = self.input_shape[0]
        return torch.arange(features) * self.n // features


def segmentation_for(n: int, input_shape: tuple[int, ...], modality: str) -> Segmentation:
    """The natural segmentation of a modality ("image", "sequence", "tabular")."""
    kinds = {"image": ImageGrid, "sequence": SequenceSpans, "tabular": FeatureGroups}
    if modality not in kinds:
        raise WatermarkError(f"unknown modality {modality!r}; known: {sorted(kinds)}")
    return kinds[modality](n, input_shape)


# --------------------------------------------------------------------------- masks


@dataclasses.dataclass(frozen=True)
class MaskScheme:
    """Which masked copies of a trigger are queried: each row of the matrix keeps (1) or removes (0) segments."""

    kind: str = "leave-one-out"  # "leave-one-out" (s = n, mask i removes segment i) or "random"
    count: int = 0  # random: number of masks s ≥ n (0 means 4n)
    seed: int = 0  # random: the generator's seed (derived from the key's secret)
    keep: float = 0.5  # random: probability that a segment is kept

    def matrix(self, n: int) -> torch.Tensor:
        """(s, n) float32 0/1 matrix."""
        if self.kind == "leave-one-out":
            return 1.0 - torch.eye(n)
        if self.kind == "random":
            count = self.count or 4 * n
            if count < n:
                raise WatermarkError(f"random masks need at least as many masks as bits ({count} < {n})")
            generator = torch.Generator().manual_seed(self.seed)
            return (torch.rand(count, n, generator=generator) < self.keep).float()
        raise WatermarkError(f"unknown mask scheme {self.kind!r}; use leave-one-out or random")


# --------------------------------------------------------------------------- the key


@dataclasses.dataclass(frozen=True, eq=False)
class WatermarkKey:
    """The owner's secret: everything needed to extract and test the watermark, and nothing about the model."""

    bits: torch.Tensor  # (n,) int8, ±1: the reference watermark
    triggers: torch.Tensor  # (T, *input_shape) float32: real inputs, possibly transformed
    labels: torch.Tensor  # (T,) int64: their TRUE labels (the model is not poisoned)
    segmentation: Segmentation
    masks: MaskScheme = MaskScheme()
    metric: str = "logit"  # what the ridge explains: "logit", "probability" or "label" (hard-label APIs)
    ridge_lambda: float = 1e-3
    fill: float = 0.5  # value of a removed segment; must differ from the trigger (uncontrollable_segments)
    embedding: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # hyper-parameters used to embed

    def __post_init__(self) -> None:
        self._check()

    @property
    def n_bits(self) -> int:
        return int(self.bits.numel())

    @property
    def num_triggers(self) -> int:
        return int(self.labels.numel())

    @property
    def reference(self) -> torch.Tensor:
        """The reference bits pooled over triggers (every trigger carries the same n bits), (T·n,)."""
        return self.bits.repeat(self.num_triggers)

    def to_dict(self) -> dict[str, Any]:
        """Canonical content: plain JSON types only, tensors as little-endian base64 with dtype and shape."""
        return {
            "format": KEY_FORMAT,
            "version": KEY_VERSION,
            "bits": "".join("+" if b > 0 else "-" for b in self.bits.tolist()),
            "triggers": _tensor_to_json(self.triggers.to(torch.float32)),
            "labels": [int(v) for v in self.labels.tolist()],
            "segmentation": self.segmentation.to_dict(),
            "masks": dataclasses.asdict(self.masks),
            "metric": self.metric,
            "ridge_lambda": float(self.ridge_lambda),
            "fill": float(self.fill),
            "embedding": dict(self.embedding),
        }

    def to_bytes(self) -> bytes:
        """Canonical serialisation (sorted keys, no spaces, UTF-8): equal keys give equal bytes in any process."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.to_bytes()).hexdigest()

    @classmethod
    def from_bytes(cls, data: bytes) -> WatermarkKey:
        try:
            document = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise WatermarkError(
                "not a watermark key: the file is not UTF-8 JSON (is it still sealed?)"
            ) from None
        return cls.from_dict(document)

    @classmethod
    def from_dict(cls, document: Any) -> WatermarkKey:
        if not isinstance(document, dict) or document.get("format") != KEY_FORMAT:
            raise WatermarkError(f"not a watermark key: the format marker {KEY_FORMAT!r} is missing")
        if document.get("version") != KEY_VERSION:
            raise WatermarkError(f"unsupported watermark key version {document.get('version')!r}")
        try:
            bits = document["bits"]
            if set(bits) - {"+", "-"}:
                raise WatermarkError("key bits must be a string of '+' and '-'")
            return cls(
                bits=torch.tensor([1 if c == "+" else -1 for c in bits], dtype=torch.int8),
                triggers=_tensor_from_json(document["triggers"]),
                labels=torch.tensor(document["labels"], dtype=torch.int64),
                segmentation=Segmentation.from_dict(document["segmentation"]),
                masks=MaskScheme(**document["masks"]),
                metric=document["metric"],
                ridge_lambda=float(document["ridge_lambda"]),
                fill=float(document["fill"]),
                embedding=document.get("embedding", {}),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise WatermarkError(f"malformed watermark key: {err}") from None

    def _check(self) -> None:
        if self.metric not in METRICS:
            raise WatermarkError(f"unknown metric {self.metric!r}; use one of {METRICS}")
        if self.bits.ndim != 1 or not bool(torch.all((self.bits == 1) | (self.bits == -1))):
            raise WatermarkError("key bits must be a 1-D vector of ±1")
        if self.n_bits != self.segmentation.n:
            raise WatermarkError(
                f"{self.n_bits} bits but the segmentation has {self.segmentation.n} segments"
            )
        if self.labels.ndim != 1 or self.num_triggers < 1 or self.triggers.shape[0] != self.num_triggers:
            raise WatermarkError("a key needs at least one trigger and exactly one label per trigger")
        if tuple(self.triggers.shape[1:]) != self.segmentation.input_shape:
            raise WatermarkError(
                f"triggers are shaped {tuple(self.triggers.shape[1:])} but the segmentation expects "
                f"{self.segmentation.input_shape}"
            )
        if not self.ridge_lambda > 0:
            raise WatermarkError(f"ridge λ must be positive, not {self.ridge_lambda}")


def keyed_bits(secret: bytes, n: int, natural: torch.Tensor | None = None) -> torch.Tensor:
    """n reference bits from a keyed generator (SHAKE-256 of the secret): balanced, and in an order only the
    secret determines, so no natural attribution pattern matches them by design (a centred logo can).

    ``natural`` (±1, the bits a model shows before any embedding) makes the bits agree with it on exactly half
    of the positions of each sign. Models trained on similar data share much of that natural pattern, so a key
    that happened to agree with it would let every such innocent model pass the test together; this one cannot.
    """
    generator = torch.Generator().manual_seed(keyed_seed(secret, "bits"))
    natural = torch.ones(n, dtype=torch.int8) if natural is None else natural.to(torch.int8)
    bits = torch.empty(n, dtype=torch.int8)
    for sign in (1, -1):
        positions = (natural == sign).nonzero().flatten()
        positions = positions[torch.randperm(len(positions), generator=generator)]
        agreeing = (len(positions) + (sign == 1)) // 2  # ⌈·/2⌉ agree on the + side, ⌊·/2⌋ on the − side
        bits[positions[:agreeing]] = sign
        bits[positions[agreeing:]] = -sign
    return bits


def keyed_seed(secret: bytes, purpose: str) -> int:
    """A 63-bit seed for one purpose (masks, triggers), derived from the key's secret."""
    return (
        int.from_bytes(hashlib.shake_256(b"ledgermark/" + purpose.encode() + b"\x00" + secret).digest(8)) >> 1
    )


def create_key(
    triggers: torch.Tensor,
    labels: torch.Tensor,
    segmentation: Segmentation,
    secret: bytes,
    *,
    mask_kind: str = "leave-one-out",
    mask_count: int = 0,
    mask_keep: float = 0.5,
    metric: str = "logit",
    ridge_lambda: float = 1e-3,
    fill: float = 0.5,
    model: nn.Module | None = None,
) -> WatermarkKey:
    """A key whose bits and mask seed come from ``secret`` (use ``os.urandom(32)``).

    Pass the ``model`` about to be watermarked: the bits are then drawn to agree with its own, pre-embedding
    explanation on exactly half of the bits (see ``keyed_bits``), which keeps innocent models trained on
    similar data at chance.

    For the "label" metric use random masks that keep most segments (``mask_keep`` ≈ 0.75): a hard-label API
    only answers "right" or "wrong", and with half of the input removed nearly every answer is "wrong".
    """
    key = WatermarkKey(
        bits=keyed_bits(secret, segmentation.n),
        triggers=triggers.detach().to(torch.float32).clone(),
        labels=labels.detach().to(torch.int64).clone(),
        segmentation=segmentation,
        masks=MaskScheme(kind=mask_kind, count=mask_count, seed=keyed_seed(secret, "masks"), keep=mask_keep),
        metric=metric,
        ridge_lambda=ridge_lambda,
        fill=fill,
    )
    if model is None:
        return key
    natural = torch.where(extract(model, key).attributions.sum(dim=0) > 0, 1, -1)  # pooled over triggers
    return dataclasses.replace(key, bits=keyed_bits(secret, segmentation.n, natural))


# --------------------------------------------------------------------------- triggers


def make_triggers(
    x: torch.Tensor, y: torch.Tensor, count: int, kind: str = "clean", seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` real inputs with their true labels, optionally marked: Gaussian noise, a patch or a black edge.

    The mark only makes triggers rarer among natural inputs; the label stays the true one.
    """
    if kind not in TRIGGER_KINDS:
        raise WatermarkError(f"unknown trigger kind {kind!r}; use one of {TRIGGER_KINDS}")
    if not 1 <= count <= len(x):
        raise WatermarkError(f"cannot pick {count} triggers from {len(x)} inputs")
    generator = torch.Generator().manual_seed(seed)
    picked = torch.randperm(len(x), generator=generator)[:count]
    triggers, labels = x[picked].clone().float(), y[picked].clone()
    if kind in ("patch", "edge") and triggers.ndim != 4:
        raise WatermarkError(f"trigger kind {kind!r} applies to images; use 'clean' or 'noise' for this data")
    if kind == "noise":
        triggers = triggers + 0.1 * torch.randn(triggers.shape, generator=generator)
        if triggers.ndim == 4:
            triggers = triggers.clamp(0, 1)
    elif kind == "patch":
        side = max(2, triggers.shape[-1] // 8)  # a bright square in the bottom-right corner
        triggers[..., -side - 1 : -1, -side - 1 : -1] = 1.0
    elif kind == "edge":
        width = max(1, triggers.shape[-1] // 16)  # a black frame
        for edge in (
            (..., slice(None, width), slice(None)),
            (..., slice(-width, None), slice(None)),
            (..., slice(None), slice(None, width)),
            (..., slice(None), slice(-width, None)),
        ):
            triggers[edge] = 0.0
    return triggers, labels


def uncontrollable_segments(key: WatermarkKey, tolerance: float = 1e-6) -> list[tuple[int, int]]:
    """(trigger, segment) pairs whose every element equals the fill: removing them changes nothing, so
    their bit cannot be set (the all-black borders of Fashion-MNIST with fill 0, DESIGN.md §7)."""
    assignment = key.segmentation.assignment().reshape(-1)
    flat = (key.triggers - key.fill).abs().reshape(key.num_triggers, -1) > tolerance  # (T, D)
    differing = torch.zeros(key.num_triggers, key.n_bits).index_add_(1, assignment, flat.float())  # (T, n)
    return [(int(t), int(i)) for t, i in (differing == 0).nonzero().tolist()]


# --------------------------------------------------------------------------- the explainer


def metric_values(
    logits: torch.Tensor, labels: torch.Tensor, metric: str, temperature: float | None = None
) -> torch.Tensor:
    """v = metric(logits, y) per row. With a ``temperature``, "label" becomes the smooth σ(margin / τ) instead
    of the step 1[margin > 0], so that embedding for a hard-label API has a gradient; extraction always uses
    the step (that is all such an API answers)."""
    if metric == "logit":
        return logits.gather(1, labels[:, None]).squeeze(1)
    if metric == "probability":
        return logits.softmax(dim=1).gather(1, labels[:, None]).squeeze(1)
    if metric == "label":
        if temperature is None:
            return (logits.argmax(dim=1) == labels).to(logits.dtype)
        true = logits.gather(1, labels[:, None]).squeeze(1)
        others = logits.scatter(1, labels[:, None], float("-inf")).amax(dim=1)
        return torch.sigmoid((true - others) / temperature)
    raise WatermarkError(f"unknown metric {metric!r}")


class Explainer(nn.Module):
    """Attributions of a model on the key's triggers, (T, n); differentiable in the model's parameters.

    The ridge solution is linear in v, so its matrix P = (MᵀM + λI)⁻¹Mᵀ (n × s) is solved once here and every
    extraction is one matrix product after the forward passes.
    """

    def __init__(self, key: WatermarkKey):
        super().__init__()
        self.key = key
        masks = key.masks.matrix(key.n_bits).double()  # (s, n)
        gram = masks.T @ masks + key.ridge_lambda * torch.eye(key.n_bits, dtype=torch.float64)
        self.register_buffer("projection", torch.linalg.solve(gram, masks.T).float())  # (n, s)
        input_masks = masks.float()[:, key.segmentation.assignment()]  # (s, *input_shape)
        self.register_buffer("input_masks", input_masks)
        self.num_masks = int(masks.shape[0])

    def masked_inputs(self, triggers: torch.Tensor) -> torch.Tensor:
        """(T, *shape) → (T·s, *shape): every trigger under every mask, removed segments set to the fill."""
        fill = self.key.fill
        masked = fill + (triggers[:, None] - fill) * self.input_masks  # (T, s, *shape)
        return masked.flatten(0, 1)

    def attributions(self, values: torch.Tensor) -> torch.Tensor:
        """Metric values (T·s,) → ridge weights (T, n)."""
        return values.view(-1, self.num_masks) @ self.projection.T

    def forward(
        self, model: nn.Module, triggers: torch.Tensor, labels: torch.Tensor, temperature: float | None = None
    ) -> torch.Tensor:
        inputs = self.masked_inputs(triggers)  # (T·s, *shape)
        targets = labels.repeat_interleave(self.num_masks)  # (T·s,)
        values = metric_values(model(inputs), targets, self.key.metric, temperature)
        return self.attributions(values)


# --------------------------------------------------------------------------- extraction


@dataclasses.dataclass(frozen=True, eq=False)
class Extraction:
    """What a model's explanations say on the key's triggers, bit by bit."""

    attributions: torch.Tensor  # (T, n) ridge weights W
    bits: torch.Tensor  # (T·n,) int8 ±1, trigger-major: sign of W (zero counts as −1)
    reference: torch.Tensor  # (T·n,) int8 ±1, the key's bits for every trigger
    predictions: torch.Tensor  # (T,) the model's labels on the unmasked triggers
    queries: int  # model evaluations used (masked inputs + the triggers themselves)
    seconds: float

    @property
    def wsr(self) -> float:
        """Watermark success rate over every trigger's bits."""
        return float((self.bits == self.reference).float().mean())

    @property
    def per_trigger_wsr(self) -> list[float]:
        n = self.attributions.shape[1]
        return (self.bits == self.reference).float().view(-1, n).mean(dim=1).tolist()


@torch.no_grad()
def extract(model: nn.Module, key: WatermarkKey, batch_size: int = 1024) -> Extraction:
    """Query the model on every masked trigger in batched forward passes and read the bits off the ridge.

    The unmasked triggers ride in the same batches (their predicted labels go in the report), so the model's
    forward passes are the only real cost.
    """
    explainer = Explainer(key)
    start = time.perf_counter()
    masked = explainer.masked_inputs(key.triggers)  # (T·s, *shape)
    inputs = torch.cat([masked, key.triggers])  # (T·s + T, *shape)
    with training.eval_mode(model):
        logits = torch.cat([model(batch) for batch in inputs.split(batch_size)])
    targets = key.labels.repeat_interleave(explainer.num_masks)
    weights = explainer.attributions(metric_values(logits[: len(masked)], targets, key.metric))
    seconds = time.perf_counter() - start
    return Extraction(
        attributions=weights,
        bits=torch.where(weights > 0, 1, -1).to(torch.int8).reshape(-1),
        reference=key.reference,
        predictions=logits[len(masked) :].argmax(dim=1),
        queries=len(inputs),
        seconds=seconds,
    )


# --------------------------------------------------------------------------- embedding


@dataclasses.dataclass(frozen=True)
class EmbedConfig:
    """How the watermark is fine-tuned into a trained model; recorded in the key."""

    steps: int = 300  # upper bound on optimiser steps
    lr: float = 1e-4  # small: the model is already trained
    optimizer: str = "adam"  # "adam" or "sgd". The hinge sums over n bits, so its gradient grows with n:
    #   at 256 bits on the quick bench's base, SGD (lr 1e-3, momentum) took clean accuracy from 0.79 to 0.25;
    #   Adam with clipping embedded every bit and kept it (a one-off comparison, not a bench setting)
    momentum: float = 0.9  # SGD momentum
    max_grad_norm: float = 1.0  # clip the gradient norm (0: no clipping)
    batch_size: int = 64  # clean samples per step, trained alongside the triggers
    alpha: float = 1.0  # weight of the watermark hinge against the cross-entropy
    # fidelity: weight of KL(original ‖ model) on the clean batch. 0 is the seed recipe, right for small models
    # (an anchor keeps them from embedding at all). A converged network's cross-entropy barely resists drift and
    # this anchor does: at 100 the bench ResNet-18's accuracy cost fell from 0.2–2.4 pp to 0.01–0.42 pp
    # (docs/results/watermark.md against watermark-without-anchor.md).
    fidelity: float = 0.0
    trigger_weight: float = 8.0  # a trigger's weight in the cross-entropy relative to a clean sample: its
    #   explanation is reshaped hard, and its label must hold
    epsilon: float = 0.01  # hinge margin: every W_i b_i must reach it (larger = more robust, slower)
    temperature: float = 0.25  # "label" metric only: sharpness of the surrogate σ(margin / τ) of the step
    seed: int = 0  # clean-batch sampling
    stop_early: bool = True  # stop once every margin is met on every trigger (checked each step)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class EmbedReport:
    """What embedding did to the model: accuracy must hold, triggers must stay correct, bits must be set."""

    steps: int
    seconds: float
    wsr_before: float
    wsr_after: float
    clean_acc_before: float | None
    clean_acc_after: float | None
    trigger_labels: list[int]
    trigger_predictions: list[int]
    final_hinge: float

    @property
    def triggers_correct(self) -> bool:
        return self.trigger_labels == self.trigger_predictions

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "triggers_correct": self.triggers_correct}


def embed(
    model: nn.Module,
    key: WatermarkKey,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    config: EmbedConfig = EmbedConfig(),
    *,
    x_test: torch.Tensor | None = None,
    y_test: torch.Tensor | None = None,
    progress: Callable[[int, float], None] | None = None,
) -> tuple[WatermarkKey, EmbedReport]:
    """Fine-tune ``model`` in place until its explanations spell the key's bits; returns the key with the
    embedding settings recorded, and a report. Raises if a segment cannot carry its bit."""
    stuck = uncontrollable_segments(key)
    if stuck:
        raise WatermarkError(
            f"{len(stuck)} (trigger, segment) pairs equal the fill value {key.fill} everywhere, so their bits "
            f"cannot be set (first: {stuck[:3]}); choose a fill that differs from the triggers"
        )
    accuracy_before = _maybe_accuracy(model, x_test, y_test)
    wsr_before = extract(model, key).wsr
    start = time.perf_counter()
    steps, hinge = _fine_tune(model, key, x_train, y_train, config, progress)
    seconds = time.perf_counter() - start
    after = extract(model, key)
    report = EmbedReport(
        steps=steps,
        seconds=seconds,
        wsr_before=wsr_before,
        wsr_after=after.wsr,
        clean_acc_before=accuracy_before,
        clean_acc_after=_maybe_accuracy(model, x_test, y_test),
        trigger_labels=key.labels.tolist(),
        trigger_predictions=after.predictions.tolist(),
        final_hinge=hinge,
    )
    log.info(
        "embedded %d bits × %d triggers in %d steps: WSR %.3f", key.n_bits, key.num_triggers, steps, after.wsr
    )
    return dataclasses.replace(key, embedding=config.to_dict()), report


def watermark_hinge(weights: torch.Tensor, bits: torch.Tensor, epsilon: float) -> torch.Tensor:
    """Σ_i max(0, ε − W_i b_i) per trigger: zero once every attribution has the right sign with margin ε."""
    return F.relu(epsilon - weights * bits.to(weights.dtype)).sum(dim=-1)


def _fine_tune(
    model: nn.Module,
    key: WatermarkKey,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    config: EmbedConfig,
    progress: Callable[[int, float], None] | None,
) -> tuple[int, float]:
    """The embedding loop. BatchNorm stays in eval mode (the statistics of a few triggers must not leak into
    the running averages); one trigger's masked batch at a time, so memory is bounded by s inputs."""
    explainer = Explainer(key)
    original = copy.deepcopy(model).requires_grad_(False) if config.fidelity else None
    optimiser = training.make_optimizer(model, config.optimizer, config.lr, momentum=config.momentum)
    generator = torch.Generator().manual_seed(config.seed)
    hinge_total = float("nan")
    with training.eval_mode(model):
        for updates in range(config.steps):
            optimiser.zero_grad(set_to_none=True)
            hinge_total = _watermark_backward(model, key, explainer, config)
            if progress is not None:
                progress(updates, hinge_total)
            if config.stop_early and hinge_total == 0.0:
                return updates, hinge_total  # every margin holds for the model as it is: no further update
            _clean_backward(model, original, key, x_train, y_train, config, generator)
            if config.max_grad_norm:
                nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimiser.step()
    return config.steps, hinge_total


def _watermark_backward(
    model: nn.Module, key: WatermarkKey, explainer: Explainer, config: EmbedConfig
) -> float:
    """Accumulate α · hinge gradients one trigger at a time; returns the hinge, averaged over triggers."""
    total = 0.0
    for trigger, label in zip(key.triggers, key.labels, strict=True):
        weights = explainer(model, trigger[None], label[None], config.temperature)  # (1, n)
        hinge = watermark_hinge(weights, key.bits, config.epsilon).mean() / key.num_triggers
        (config.alpha * hinge).backward()
        total += float(hinge.detach())
    return total


def _clean_backward(
    model: nn.Module,
    original: nn.Module | None,
    key: WatermarkKey,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    config: EmbedConfig,
    generator: torch.Generator,
) -> None:
    """Accumulate the cross-entropy gradient of a clean batch plus the triggers (weighted) at their true labels."""
    picked = torch.randint(len(x_train), (config.batch_size,), generator=generator)
    inputs = torch.cat([x_train[picked], key.triggers])
    labels = torch.cat([y_train[picked], key.labels])
    weights = torch.ones(len(labels))
    weights[config.batch_size :] = config.trigger_weight
    logits = model(inputs)
    losses = F.cross_entropy(logits, labels, reduction="none")
    loss = (losses * weights).sum() / weights.sum()
    if original is not None:
        with torch.no_grad():
            target = original(inputs[: config.batch_size]).log_softmax(dim=1)
        drift = F.kl_div(
            logits[: config.batch_size].log_softmax(dim=1), target, log_target=True, reduction="batchmean"
        )
        loss = loss + config.fidelity * drift
    loss.backward()


def _maybe_accuracy(model: nn.Module, x: torch.Tensor | None, y: torch.Tensor | None) -> float | None:
    return None if x is None or y is None else training.evaluate(model, x, y)


# --------------------------------------------------------------------------- tensor (de)serialisation


def _tensor_to_json(tensor: torch.Tensor) -> dict[str, Any]:
    array = tensor.detach().cpu().contiguous().numpy().astype("<f4")
    return {
        "dtype": "float32",
        "shape": list(array.shape),
        "data": base64.b64encode(array.tobytes()).decode(),
    }


def _tensor_from_json(data: Mapping[str, Any]) -> torch.Tensor:
    if data.get("dtype") != "float32":
        raise WatermarkError(f"unsupported tensor dtype {data.get('dtype')!r}")
    raw = base64.b64decode(data["data"], validate=True)
    shape = tuple(int(d) for d in data["shape"])
    if len(raw) != 4 * math.prod(shape):
        raise WatermarkError(
            f"tensor data holds {len(raw)} bytes, shape {shape} needs {4 * math.prod(shape)}"
        )
    return torch.from_numpy(np.frombuffer(raw, dtype="<f4").reshape(shape).copy())
