"""How a trigger is cut into n segments, and which masked copies of it the explainer queries (DESIGN.md §7, steps 1–2).

A segmentation maps every element of one input to a segment index; a mask scheme is an (s, n) 0/1 matrix whose
row k keeps (1) or removes (0) each segment in query k. Both serialise into the watermark key, so a new
modality is one ``Segmentation`` subclass with an ``assignment`` and a ``kind`` name.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from collections.abc import Mapping
from typing import Any, ClassVar

import torch

from verifier.watermark.errors import WatermarkError


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
