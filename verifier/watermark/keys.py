"""The watermark key: the owner's secret, its canonical bytes, and how its bits, masks and triggers are drawn.

The key (seed, bits, triggers, segmentation, masks, λ, metric, fill) is everything needed to extract and test the
watermark and nothing about the model. Whoever holds it can tune a model to answer the probes differently, so
it is sealed before upload (DESIGN.md §7). It serialises canonically (sorted keys, tensors as little-endian
base64), so equal keys give equal bytes in any process and its hash can be anchored on-chain.

Key format v2 makes the bits verifiably random. Everything random in a key derives from a 32-byte ``seed`` by a
PRF, SHAKE-256 with a domain string (``_PrfStream``): the bits (``derive_bits``: exactly balanced, shuffled by
Fisher–Yates), the random masks' generator seed (``derive_seed(seed, "masks")``) and, when the owner lets
``make_triggers`` pick them, the trigger picks (``derive_seed(seed, "triggers")``). The record anchors the key's
hash on-chain before any suspect exists (the commitment); the reveal discloses the key, seed included, and
anyone re-derives the bits and masks from it. A key whose bits or mask seed do not re-derive from its seed is
refused, in memory as on disk: bits chosen to match the natural attribution pattern that innocent models share
(a false-claim weapon) cannot be smuggled in. v1 keys (bits without a seed) are refused with a message to
re-create the key.

Triggers are real inputs that keep their true labels.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from verifier.integrity import documents
from verifier.watermark import segments
from verifier.watermark.errors import WatermarkError

KEY_FORMAT = "ledgermark-watermark-key"
KEY_VERSION = 2
SEED_BYTES = 32
PRF_DOMAIN = b"ledgermark/watermark-key/v2/"
"""Every PRF output is SHAKE-256(PRF_DOMAIN ‖ purpose ‖ 0x00 ‖ seed): one stream per purpose."""
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
    seed: bytes  # 32 bytes: the bits and the masks' seed re-derive from it (derive_bits, derive_seed)
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
            "seed": self.seed.hex(),
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
        version = document.get("version")
        if version == 1:
            raise WatermarkError(
                "this is a version-1 watermark key: its bits were not derived from a committed seed, so nobody "
                "can check that they are random; re-create the key (ledgermark watermark embed) and register "
                "the newly watermarked model"
            )
        if version != KEY_VERSION:
            raise WatermarkError(f"unsupported watermark key version {repr(version)[:40]}")
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
                seed=_seed_from_json(document["seed"]),
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
        self._check_derivation()

    def _check_derivation(self) -> None:
        """The commitment is only worth something if nothing random in the key was chosen by hand."""
        if not isinstance(self.seed, bytes) or len(self.seed) != SEED_BYTES:
            raise WatermarkError(f"a watermark key's seed must be {SEED_BYTES} bytes")
        if not torch.equal(self.bits.to(torch.int8), derive_bits(self.seed, self.n_bits)):
            raise WatermarkError(
                "the key's bits do not re-derive from the key's seed (derive_bits): they were chosen, not drawn, "
                "and such a key can be fitted to innocent models; refused"
            )
        if self.masks.seed != derive_seed(self.seed, "masks"):
            raise WatermarkError(
                f"the key's mask seed {self.masks.seed} does not re-derive from the key's seed "
                f"(expected {derive_seed(self.seed, 'masks')}); refused"
            )


class _PrfStream:
    """Uniform integers from SHAKE-256(PRF_DOMAIN ‖ purpose ‖ 0x00 ‖ seed), read as big-endian 64-bit words.

    Written out (rather than a library generator) so that an arbiter can re-derive a key in any language.
    """

    def __init__(self, seed: bytes, purpose: str):
        self._material = PRF_DOMAIN + purpose.encode() + b"\x00" + seed
        self._buffer = b""
        self._position = 0

    def word(self) -> int:
        if self._position + 8 > len(self._buffer):  # SHAKE output is a prefix-stable stream: ask for more
            self._buffer = hashlib.shake_256(self._material).digest(max(64, 2 * len(self._buffer)))
        value = int.from_bytes(self._buffer[self._position : self._position + 8], "big")
        self._position += 8
        return value

    def below(self, bound: int) -> int:
        """Uniform in [0, bound) by rejection sampling (no modulo bias)."""
        limit = (1 << 64) - (1 << 64) % bound
        while (value := self.word()) >= limit:
            pass
        return value % bound


def derive_bits(seed: bytes, n: int) -> torch.Tensor:
    """The n reference bits of a seed, ±1 int8, exactly balanced: n/2 of each sign for even n; for odd n the
    extra one's sign is the PRF's first draw (stream purpose ``bits/<n>``).

    Algorithm (for re-implementation): s = stream(seed, "bits/<n>"); odd = +1 if n is odd and s.below(2) == 1,
    −1 if n is odd otherwise; b = [+1]·⌊n/2⌋ ‖ [−1]·⌊n/2⌋ ‖ [odd]; for i = n−1 … 1: swap b[i], b[s.below(i+1)].
    Balanced bits make the 2×2 table's reference margin fixed, and the order is what only the seed decides.
    """
    if n < 1:
        raise WatermarkError(f"a watermark needs at least one bit, not {n}")
    stream = _PrfStream(seed, f"bits/{n}")
    bits = [1] * (n // 2) + [-1] * (n // 2)
    if n % 2:
        bits.append(1 if stream.below(2) == 1 else -1)
    for i in range(n - 1, 0, -1):
        j = stream.below(i + 1)
        bits[i], bits[j] = bits[j], bits[i]
    return torch.tensor(bits, dtype=torch.int8)


def derive_seed(seed: bytes, purpose: str) -> int:
    """A 63-bit integer seed for one purpose ("masks", "triggers"): the first PRF word shifted right by one."""
    return _PrfStream(seed, purpose).word() >> 1


def new_seed() -> bytes:
    """A fresh key seed from the operating system's CSPRNG."""
    return os.urandom(SEED_BYTES)


def create_key(
    triggers: torch.Tensor,
    labels: torch.Tensor,
    segmentation: segments.Segmentation,
    seed: bytes | None = None,
    *,
    mask_kind: str = "leave-one-out",
    mask_count: int = 0,
    mask_keep: float = 0.5,
    metric: str = "logit",
    ridge_lambda: float = 1e-3,
    fill: float = 0.5,
) -> WatermarkKey:
    """A key whose bits and mask seed derive from ``seed`` (32 bytes; a fresh ``new_seed()`` when omitted).

    Pick the triggers with ``make_triggers(..., seed=seed)`` so that they derive from the same seed.
    For the "label" metric use random masks that keep most segments (``mask_keep`` ≈ 0.75): a hard-label API
    only answers "right" or "wrong", and with half of the input removed nearly every answer is "wrong".
    """
    seed = new_seed() if seed is None else seed
    if not isinstance(seed, bytes) or len(seed) != SEED_BYTES:
        raise WatermarkError(f"a watermark key's seed must be {SEED_BYTES} bytes (use keys.new_seed())")
    return WatermarkKey(
        bits=derive_bits(seed, segmentation.n),
        triggers=triggers.detach().to(torch.float32).clone(),
        labels=labels.detach().to(torch.int64).clone(),
        segmentation=segmentation,
        seed=seed,
        masks=segments.MaskScheme(
            kind=mask_kind, count=mask_count, seed=derive_seed(seed, "masks"), keep=mask_keep
        ),
        metric=metric,
        ridge_lambda=ridge_lambda,
        fill=fill,
    )


# --------------------------------------------------------------------------- triggers


def make_triggers(
    x: torch.Tensor, y: torch.Tensor, count: int, kind: str = "clean", seed: int | bytes = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` real inputs with their true labels, optionally marked: Gaussian noise, a patch or a black edge.

    The mark only makes triggers rarer among natural inputs; the label stays the true one. With the key's seed
    (bytes) the picks and the noise derive from it (``derive_seed(seed, "triggers")``), so whoever holds the
    same data can check that the triggers were not chosen to fit innocent models.
    """
    if isinstance(seed, bytes):
        seed = derive_seed(seed, "triggers")
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


def _seed_from_json(value: object) -> bytes:
    text = documents.text(value, "seed", SOURCE, max_length=2 * SEED_BYTES)
    try:
        seed = bytes.fromhex(text)
    except ValueError:
        raise WatermarkError(f"the key's seed must be {2 * SEED_BYTES} hex digits") from None
    if len(seed) != SEED_BYTES:
        raise WatermarkError(f"the key's seed must be {2 * SEED_BYTES} hex digits ({SEED_BYTES} bytes)")
    return seed


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
