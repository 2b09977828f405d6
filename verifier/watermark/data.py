"""Datasets that exist on an offline machine (DESIGN.md §8): nothing here ever downloads.

* ``fashion-mnist``: the full 60k/10k set from the Debian package ``dataset-fashion-mnist`` (idx gzip files,
  LeCun's format: big-endian header of magic, count and dims, then raw uint8);
* ``digits``, ``breast-cancer``, ``wine``: small sets bundled with scikit-learn.

Splits and subsets are deterministic (fixed seeds) so that a watermark key's trigger indices and a benchmark's
numbers can be reproduced elsewhere.
"""

from __future__ import annotations

import dataclasses
import gzip
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from verifier.errors import VerifierError

logger = logging.getLogger(__name__)

NAMES = ("fashion-mnist", "digits", "breast-cancer", "wine")
FASHION_MNIST_ROOT = Path("/usr/share/datasets/fashion-mnist")
_IMAGES_MAGIC, _LABELS_MAGIC = 2051, 2049
_SPLIT_SEED = 0
_TEST_FRACTION = 0.25


class DatasetUnavailable(VerifierError):
    """A dataset cannot be provided: unknown name, files not installed, or files that are not what they claim."""


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split held in memory: float32 inputs, int64 labels."""

    name: str
    x_train: torch.Tensor  # (N_train, *input_shape) float32
    y_train: torch.Tensor  # (N_train,) int64
    x_test: torch.Tensor  # (N_test, *input_shape) float32
    y_test: torch.Tensor  # (N_test,) int64
    num_classes: int
    modality: str  # "image" | "tabular"

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One example's shape, without the batch dimension."""
        return tuple(self.x_train.shape[1:])

    def subset(self, train: int | None = None, test: int | None = None, seed: int = 0) -> Dataset:
        """Random subsets of each split (``None`` keeps all); the same seed always picks the same rows."""
        train_idx = _pick(len(self.x_train), train, seed)
        test_idx = _pick(len(self.x_test), test, seed)
        return dataclasses.replace(
            self,
            x_train=self.x_train[train_idx],
            y_train=self.y_train[train_idx],
            x_test=self.x_test[test_idx],
            y_test=self.y_test[test_idx],
        )


def load(name: str, **kwargs: object) -> Dataset:
    """Load a dataset by name; keyword arguments go to its loader (``root``, ``pad_to`` for fashion-mnist)."""
    loaders: dict[str, Callable[..., Dataset]] = {
        "fashion-mnist": load_fashion_mnist,
        "digits": load_digits,
        "breast-cancer": lambda: _load_tabular("breast-cancer", "load_breast_cancer"),
        "wine": lambda: _load_tabular("wine", "load_wine"),
    }
    if name not in loaders:
        raise DatasetUnavailable(f"unknown dataset {name!r}; known: {', '.join(NAMES)}")
    return loaders[name](**kwargs)


def load_fashion_mnist(root: Path | str = FASHION_MNIST_ROOT, pad_to: int | None = 32) -> Dataset:
    """Fashion-MNIST in [0, 1], shape (N, 1, pad_to, pad_to): zero padding keeps 32×32 architectures usable."""
    root = Path(root)
    files = {
        f"{split}-{kind}": root / f"{split}-{kind}-ubyte.gz"
        for split in ("train", "t10k")
        for kind in ("images-idx3", "labels-idx1")
    }
    if missing := [p.name for p in files.values() if not p.is_file()]:
        raise DatasetUnavailable(
            f"Fashion-MNIST files {missing} not found under {root}: install the Debian package "
            "dataset-fashion-mnist (`make setup` does it)"
        )
    x_train = _pad(_read_idx_images(files["train-images-idx3"]), pad_to)
    x_test = _pad(_read_idx_images(files["t10k-images-idx3"]), pad_to)
    y_train = _read_idx_labels(files["train-labels-idx1"], len(x_train))
    y_test = _read_idx_labels(files["t10k-labels-idx1"], len(x_test))
    return Dataset("fashion-mnist", x_train, y_train, x_test, y_test, num_classes=10, modality="image")


def load_digits() -> Dataset:
    """scikit-learn's 8×8 digits in [0, 1], shape (N, 1, 8, 8), stratified 75/25 split."""
    bunch = _sklearn_bundle("load_digits")
    x = (bunch.data / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    x_train, x_test, y_train, y_test = _split(x, bunch.target)
    return Dataset("digits", x_train, y_train, x_test, y_test, num_classes=10, modality="image")


def _sklearn_bundle(loader: str) -> Any:
    """A data set bundled with scikit-learn, imported only here: testing a model file needs no data set, and
    scikit-learn costs about a second to import."""
    from sklearn import datasets

    return getattr(datasets, loader)()


def _load_tabular(name: str, loader: str) -> Dataset:
    """Stratified 75/25 split, standardised with the train split's statistics only (no test leakage)."""
    bunch = _sklearn_bundle(loader)
    x_train, x_test, y_train, y_test = _split(bunch.data.astype(np.float32), bunch.target)
    mean, std = x_train.mean(0), x_train.std(0, correction=0)
    std = torch.where(std > 0, std, torch.ones_like(std))  # a constant column stays 0, not NaN
    num_classes = int(np.unique(bunch.target).size)
    return Dataset(
        name, (x_train - mean) / std, y_train, (x_test - mean) / std, y_test, num_classes, modality="tabular"
    )


def _split(x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    from sklearn.model_selection import train_test_split

    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=_TEST_FRACTION, stratify=y, random_state=_SPLIT_SEED
    )
    return (
        torch.from_numpy(np.ascontiguousarray(x_train, dtype=np.float32)),
        torch.from_numpy(np.ascontiguousarray(x_test, dtype=np.float32)),
        torch.from_numpy(y_train.astype(np.int64)),
        torch.from_numpy(y_test.astype(np.int64)),
    )


def _pick(n: int, k: int | None, seed: int) -> torch.Tensor | slice:
    if k is None:
        return slice(None)
    if not 0 <= k <= n:
        raise DatasetUnavailable(f"cannot take a subset of {k} from a split of {n}")
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:k]


def _read_idx(path: Path, magic: int, ndim: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """Header dims and the raw uint8 payload of one idx file, checked against the header."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    header_size = 4 * (1 + ndim)
    header = np.frombuffer(raw, dtype=">u4", count=1 + ndim) if len(raw) >= header_size else None
    if header is None or int(header[0]) != magic:
        found = None if header is None else int(header[0])
        raise DatasetUnavailable(f"{path}: not an idx file (magic {found}, expected {magic})")
    dims = tuple(int(d) for d in header[1:])
    payload = np.frombuffer(raw, dtype=np.uint8, offset=header_size)
    if payload.size != int(np.prod(dims)):
        raise DatasetUnavailable(
            f"{path}: header says {dims} but the file holds {payload.size} bytes of data"
        )
    return payload, dims


def _read_idx_images(path: Path) -> torch.Tensor:
    payload, (n, rows, cols) = _read_idx(path, _IMAGES_MAGIC, 3)
    x = torch.from_numpy(payload.reshape(n, 1, rows, cols).copy())  # copy: frombuffer data is read-only
    return x.to(torch.float32).div_(255.0)


def _read_idx_labels(path: Path, expected: int) -> torch.Tensor:
    payload, (n,) = _read_idx(path, _LABELS_MAGIC, 1)
    if n != expected:
        raise DatasetUnavailable(f"{path}: {n} labels for {expected} images")
    return torch.from_numpy(payload.astype(np.int64))


def _pad(x: torch.Tensor, size: int | None) -> torch.Tensor:
    """Zero-pad (N, C, H, W) images to (N, C, size, size), centred; ``None`` keeps them as they are."""
    if size is None:
        return x
    h, w = x.shape[-2:]
    if size < max(h, w):
        raise DatasetUnavailable(f"pad_to={size} is smaller than the {h}×{w} images")
    top, left = (size - h) // 2, (size - w) // 2
    return torch.nn.functional.pad(x, (left, size - w - left, top, size - h - top))
