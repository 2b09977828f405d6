"""Tiny models trained once per session on the bundled digits (8×8), so watermark tests take seconds."""

from __future__ import annotations

import copy
import dataclasses
import hashlib

import pytest
import torch
from torch import nn

from verifier.watermark import data, embedding, explain, keys, models, segments, stats, training

DIGITS_CNN = models.ModelSpec(arch="cnn", num_classes=10, input_shape=(1, 8, 8), width=16)
TRAIN = training.TrainConfig(epochs=20, batch_size=64, lr=2e-3, optimizer="adam", weight_decay=0.0)


@pytest.fixture(scope="session")
def digits() -> data.Dataset:
    return data.load("digits")


def train_digits_cnn(dataset: data.Dataset, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    model = DIGITS_CNN.build()
    training.train(model, dataset.x_train, dataset.y_train, dataclasses.replace(TRAIN, seed=seed))
    return model.eval()


def ownership(
    model: nn.Module, key: keys.WatermarkKey, alpha: float = stats.DEFAULT_ALPHA
) -> stats.OwnershipResult:
    """The ownership test of ``model`` under ``key``: extraction, then the statistic."""
    extraction = explain.extract(model, key)
    return stats.ownership_test(extraction.bits, extraction.reference, alpha=alpha)


def watermark_copy(
    model: nn.Module, key: keys.WatermarkKey, dataset: data.Dataset, config: embedding.EmbedConfig
) -> tuple[nn.Module, keys.WatermarkKey, embedding.EmbedReport]:
    """A copy of ``model`` with ``key`` embedded (the session's models stay clean), accuracy on the test split."""
    copied = copy.deepcopy(model)
    key, report = embedding.embed(
        copied, key, dataset.x_train, dataset.y_train, config, x_test=dataset.x_test, y_test=dataset.y_test
    )
    return copied, key, report


@pytest.fixture(scope="session")
def trained_cnn(digits: data.Dataset) -> nn.Module:
    return train_digits_cnn(digits, seed=0)


@pytest.fixture(scope="session")
def independent_cnn(digits: data.Dataset) -> nn.Module:
    """Same data and architecture, another seed: it never saw the watermark."""
    return train_digits_cnn(digits, seed=1)


@pytest.fixture(scope="session")
def digits_key(digits: data.Dataset) -> keys.WatermarkKey:
    triggers, labels = keys.make_triggers(digits.x_train, digits.y_train, count=2, kind="noise", seed=7)
    return keys.create_key(
        triggers, labels, segments.ImageGrid(16, (1, 8, 8)), hashlib.sha256(b"conftest key").digest()
    )


@pytest.fixture(scope="session")
def watermarked(
    trained_cnn: nn.Module, digits: data.Dataset, digits_key: keys.WatermarkKey
) -> tuple[nn.Module, keys.WatermarkKey, embedding.EmbedReport]:
    """A copy of the trained model with the 16-bit watermark embedded (the session's models stay clean)."""
    return watermark_copy(trained_cnn, digits_key, digits, embedding.EmbedConfig(steps=400))
