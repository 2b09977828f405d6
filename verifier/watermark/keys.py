"""The watermark key: the owner's secret, its canonical bytes, and how its bits and triggers are drawn.

The key (bits, triggers, segmentation, masks, λ, metric, fill) is everything needed to extract and test the
watermark and nothing about the model. Whoever holds it can tune a model to answer the probes differently, so
it is sealed before upload (DESIGN.md §7). It serialises canonically (sorted keys, tensors as little-endian
base64), so equal keys give equal bytes in any process and its hash can be anchored on-chain.

Bits come from a keyed generator (SHAKE-256 of a secret), never from a logo: structured bits can match the
natural attribution pattern of an unrelated model. Triggers are real inputs that keep their true labels.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from verifier.integrity import documents
from verifier.watermark import explain, segments
from verifier.watermark.errors import WatermarkError

KEY_FORMAT = "ledgermark-watermark-key"
KEY_VERSION = 1
METRICS = ("logit", "probability", "label")  # what the ridge explains (explain.metric_values)
TRIGGER_KINDS = ("clean", "noise", "patch", "edge")  # how make_triggers marks a real input
MAX_KEY_BYTES = 64 * 1024 * 1024
"""A key is mostly its triggers (base64 float32): 64 MiB holds a hundred 224×224 RGB images."""
MAX_KEY_DEPTH = 8
"""A key nests 3 deep (key → segmentation → input_shape); ``embedding`` may add a few levels, never dozens."""
MAX_BITS = 4096
"""Extraction builds an (s, n) mask matrix with s ≈ n to 4n: 4096 bits keep it under 300 MB."""
MAX_TRIGGERS = 4096
MAX_DIMS = 8
SOURCE = "watermark key"


@dataclasses.dataclass(frozen=True, eq=False)
class WatermarkKey:
    """The owner's secret: everything needed to extract and test the watermark, and nothing about the model."""

    bits: torch.Tensor  # (n,) int8, ±1: the reference watermark
    triggers: torch.Tensor  # (T, *input_shape) float32: real inputs, possibly transformed
    labels: torch.Tensor  # (T,) int64: their TRUE labels (the model is not poisoned)
    segmentation: segments.Segmentation
    masks: segments.MaskScheme = dataclasses.field(default_factory=segments.MaskScheme)
    metric: str = "logit"  # what the ridge explains: "logit", "probability" or "label" (hard-label APIs)
    ridge_lambda: float = 1e-3
    fill: float = 0.5  # a removed segment's value, unlike the trigger's (explain.uncontrollable_segments)
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
        """A key from untrusted bytes: bounded (size, nesting) before parsing, every field typed and bounded."""
        try:
            document = documents.parse_json(
                data, source=SOURCE, max_bytes=MAX_KEY_BYTES, max_depth=MAX_KEY_DEPTH
            )
        except documents.NotJsonError:
            raise WatermarkError(
                "not a watermark key: the file is not UTF-8 JSON (is it still sealed?)"
            ) from None
        except documents.DocumentError as err:
            raise WatermarkError(f"not a watermark key: {err.problem}") from None
        return cls.from_dict(document)

    @classmethod
    def from_dict(cls, document: Any) -> WatermarkKey:
        if not isinstance(document, dict) or document.get("format") != KEY_FORMAT:
            raise WatermarkError(f"not a watermark key: the format marker {KEY_FORMAT!r} is missing")
        if document.get("version") != KEY_VERSION:
            raise WatermarkError(f"unsupported watermark key version {document.get('version')!r}")
        try:
            bits = documents.text(document["bits"], "bits", SOURCE, max_length=MAX_BITS)
            if set(bits) - {"+", "-"}:
                raise WatermarkError("key bits must be a string of '+' and '-'")
            labels = documents.array(document["labels"], "labels", SOURCE, max_items=MAX_TRIGGERS)
            embedding = document.get("embedding", {})
            return cls(
                bits=torch.tensor([1 if c == "+" else -1 for c in bits], dtype=torch.int8),
                triggers=_tensor_from_json(document["triggers"]),
                labels=torch.tensor(
                    [documents.non_negative_int(v, "a label", SOURCE) for v in labels], dtype=torch.int64
                ),
                segmentation=_segmentation_from_json(document["segmentation"]),
                masks=_masks_from_json(document["masks"]),
                metric=documents.text(document["metric"], "metric", SOURCE, max_length=64),
                ridge_lambda=documents.number(document["ridge_lambda"], "ridge_lambda", SOURCE),
                fill=documents.number(document["fill"], "fill", SOURCE),
                embedding=documents.mapping(embedding, "embedding", SOURCE, optional=_keys_of(embedding)),
            )
        except documents.DocumentError as err:
            raise WatermarkError(f"malformed watermark key: {err.problem}") from None
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
    segmentation: segments.Segmentation,
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
        masks=segments.MaskScheme(
            kind=mask_kind, count=mask_count, seed=keyed_seed(secret, "masks"), keep=mask_keep
        ),
        metric=metric,
        ridge_lambda=ridge_lambda,
        fill=fill,
    )
    if model is None:
        return key
    pooled = explain.extract(model, key).attributions.sum(dim=0)  # (n,) pooled over triggers
    natural = torch.where(pooled > 0, 1, -1)
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


# --------------------------------------------------------------------------- tensor (de)serialisation


def _tensor_to_json(tensor: torch.Tensor) -> dict[str, Any]:
    array = tensor.detach().cpu().contiguous().numpy().astype("<f4")
    return {
        "dtype": "float32",
        "shape": list(array.shape),
        "data": base64.b64encode(array.tobytes()).decode(),
    }


def _keys_of(value: object) -> tuple[str, ...]:
    """The keys of a free-form object (``embedding``): any are allowed, but it must be an object."""
    return tuple(value) if isinstance(value, dict) else ()


def _tensor_from_json(value: object) -> torch.Tensor:
    """Every dimension at least 1, so the data's length bounds the tensor (and every shape derived from it)."""
    data = documents.mapping(value, "triggers", SOURCE, required=("dtype", "shape", "data"))
    if data["dtype"] != "float32":
        raise WatermarkError(f"unsupported tensor dtype {str(data['dtype'])[:40]!r}")
    shape = _shape(data["shape"], "triggers.shape")
    raw = base64.b64decode(documents.text(data["data"], "triggers.data", SOURCE, max_length=MAX_KEY_BYTES))
    needed = 4 * math.prod(shape)
    if len(raw) != needed:
        raise WatermarkError(f"tensor data holds {len(raw)} bytes, shape {shape} needs {needed}")
    return torch.from_numpy(np.frombuffer(raw, dtype="<f4").reshape(shape).copy())


def _shape(value: object, field: str) -> tuple[int, ...]:
    dims = documents.array(value, field, SOURCE, max_items=MAX_DIMS)
    return tuple(documents.integer(d, f"a dimension of {field}", SOURCE, low=1, below=2**31) for d in dims)


def _segmentation_from_json(value: object) -> segments.Segmentation:
    data = documents.mapping(value, "segmentation", SOURCE, required=("kind", "n", "input_shape"))
    kind = documents.text(
        data["kind"], "segmentation.kind", SOURCE, allowed=sorted(segments.Segmentation.kinds)
    )
    n = documents.integer(data["n"], "segmentation.n", SOURCE, low=1, below=MAX_BITS + 1)
    return segments.Segmentation.kinds[kind](n, _shape(data["input_shape"], "segmentation.input_shape"))


def _masks_from_json(value: object) -> segments.MaskScheme:
    data = documents.mapping(value, "masks", SOURCE, optional=("kind", "count", "seed", "keep"))
    defaults = segments.MaskScheme()
    keep = documents.number(data.get("keep", defaults.keep), "masks.keep", SOURCE)
    if not 0 <= keep <= 1:
        raise WatermarkError(f"masks.keep must be a probability from 0 to 1, not {keep}")
    return segments.MaskScheme(
        kind=documents.text(data.get("kind", defaults.kind), "masks.kind", SOURCE, max_length=64),
        count=documents.integer(
            data.get("count", defaults.count), "masks.count", SOURCE, low=0, below=4 * MAX_BITS + 1
        ),
        seed=documents.non_negative_int(data.get("seed", defaults.seed), "masks.seed", SOURCE),
        keep=keep,
    )
