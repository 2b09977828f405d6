"""verifier.data: bundled sets (shapes, ranges, splits), Fashion-MNIST from the Debian package, subsets."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from verifier.watermark import data

# name -> (train size, test size, input shape, classes, modality)
BUNDLED = {
    "digits": (1347, 450, (1, 8, 8), 10, "image"),
    "breast-cancer": (426, 143, (30,), 2, "tabular"),
    "wine": (133, 45, (13,), 3, "tabular"),
}
FASHION_FILES = ("train-images-idx3", "train-labels-idx1", "t10k-images-idx3", "t10k-labels-idx1")


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_bundled_dataset_shapes_and_classes(name: str) -> None:
    n_train, n_test, shape, classes, modality = BUNDLED[name]
    ds = data.load(name)
    assert (len(ds.x_train), len(ds.y_train), len(ds.x_test), len(ds.y_test)) == (
        n_train,
        n_train,
        n_test,
        n_test,
    )
    assert ds.input_shape == shape and ds.num_classes == classes and ds.modality == modality
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    for y in (ds.y_train, ds.y_test):
        assert set(y.tolist()) == set(range(classes))  # stratified: every class in both splits


def test_digits_values_in_unit_range() -> None:
    ds = data.load("digits")
    assert ds.x_train.min() == 0.0 and ds.x_train.max() == 1.0
    assert 0.0 <= ds.x_test.min() and ds.x_test.max() <= 1.0


@pytest.mark.parametrize("name", ["breast-cancer", "wine"])
def test_tabular_standardised_with_train_statistics(name: str) -> None:
    ds = data.load(name)
    torch.testing.assert_close(ds.x_train.mean(0), torch.zeros(ds.input_shape), atol=1e-5, rtol=0)
    torch.testing.assert_close(ds.x_train.std(0, correction=0), torch.ones(ds.input_shape), atol=1e-4, rtol=0)
    assert ds.x_test.mean(0).abs().max() > 1e-3  # test split uses the train statistics, not its own


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_split_is_deterministic(name: str) -> None:
    a, b = data.load(name), data.load(name)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)


def test_unknown_name_lists_known_names() -> None:
    with pytest.raises(data.DatasetUnavailable, match="unknown dataset 'cifar10'.*fashion-mnist, digits"):
        data.load("cifar10")


def test_subset_is_deterministic_and_sized() -> None:
    ds = data.load("digits")
    a, b = ds.subset(train=100, test=20, seed=3), ds.subset(train=100, test=20, seed=3)
    assert (len(a.x_train), len(a.y_train), len(a.x_test), len(a.y_test)) == (100, 100, 20, 20)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.x_train, ds.subset(train=100, seed=4).x_train)
    assert len(ds.subset(train=10).x_test) == len(ds.x_test)  # None keeps the whole split


def test_subset_larger_than_split_raises() -> None:
    with pytest.raises(data.DatasetUnavailable, match="subset of 2000"):
        data.load("wine").subset(train=2000)


def test_missing_fashion_mnist_names_the_debian_package(tmp_path: Path) -> None:
    with pytest.raises(data.DatasetUnavailable, match="dataset-fashion-mnist.*make setup"):
        data.load("fashion-mnist", root=tmp_path)


def _write_idx(path: Path, magic: int, dims: tuple[int, ...], payload: bytes) -> None:
    header = np.array([magic, *dims], dtype=">u4").tobytes()
    with gzip.open(path, "wb") as f:
        f.write(header + payload)


def _write_tiny_fashion(root: Path, image_magic: int = 2051, labels: int = 3) -> None:
    for split in ("train", "t10k"):
        _write_idx(
            root / f"{split}-images-idx3-ubyte.gz",
            image_magic,
            (3, 28, 28),
            bytes(range(256)) * 9 + bytes(48),
        )
        _write_idx(root / f"{split}-labels-idx1-ubyte.gz", 2049, (labels,), bytes(range(labels)))


def test_fashion_mnist_reader_on_tiny_files(tmp_path: Path) -> None:
    _write_tiny_fashion(tmp_path)
    ds = data.load("fashion-mnist", root=tmp_path, pad_to=None)
    assert ds.x_train.shape == (3, 1, 28, 28) and ds.y_train.tolist() == [0, 1, 2]
    assert ds.x_train[0, 0, 0, 1] == pytest.approx(1 / 255)
    assert data.load("fashion-mnist", root=tmp_path, pad_to=30).input_shape == (1, 30, 30)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"image_magic": 2049}, "magic 2049, expected 2051"), ({"labels": 2}, "2 labels for 3 images")],
)
def test_fashion_mnist_rejects_malformed_files(tmp_path: Path, kwargs: dict[str, int], message: str) -> None:
    _write_tiny_fashion(tmp_path, **kwargs)
    with pytest.raises(data.DatasetUnavailable, match=message):
        data.load("fashion-mnist", root=tmp_path)


def test_fashion_mnist_rejects_truncated_file(tmp_path: Path) -> None:
    _write_tiny_fashion(tmp_path)
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", 2051, (3, 28, 28), bytes(100))
    with pytest.raises(
        data.DatasetUnavailable, match=r"header says \(3, 28, 28\) but the file holds 100 bytes"
    ):
        data.load("fashion-mnist", root=tmp_path)


@pytest.fixture(scope="module")
def fashion() -> data.Dataset:
    if not all((data.FASHION_MNIST_ROOT / f"{f}-ubyte.gz").is_file() for f in FASHION_FILES):
        pytest.skip("the Debian package dataset-fashion-mnist is not installed")
    return data.load("fashion-mnist")


def test_fashion_mnist_full_set(fashion: data.Dataset) -> None:
    assert (len(fashion.x_train), len(fashion.y_train), len(fashion.x_test), len(fashion.y_test)) == (
        60000,
        60000,
        10000,
        10000,
    )
    assert fashion.input_shape == (1, 32, 32) and fashion.num_classes == 10 and fashion.modality == "image"
    assert fashion.x_train.min() == 0.0 and fashion.x_train.max() == 1.0
    assert torch.bincount(fashion.y_train).tolist() == [6000] * 10


def test_fashion_mnist_padding_border_is_zero(fashion: data.Dataset) -> None:
    for x in (fashion.x_train, fashion.x_test):
        inner = torch.zeros(32, 32, dtype=torch.bool)
        inner[2:30, 2:30] = True
        assert x[:, :, ~inner].abs().max() == 0.0
        assert x[:, :, inner].max() > 0.0
