"""Label-only keys: a watermark embedded through a differentiable surrogate of the top-1 label and verified
through an API that answers only labels (or the top-1 class and its probability), on the session's digits CNN (conftest)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
import torch
from torch import nn

from tests.fixtures.model_endpoint import serve_model
from tests.verifier.watermark.conftest import ownership, watermark_copy
from verifier.watermark import data, embedding, explain, keys, models, remote, segments

LABEL_EMBEDDING = embedding.EmbedConfig(steps=300, lr=1e-3, epsilon=0.2)  # τ 1: the default


@pytest.fixture(scope="module")
def label_key(digits: data.Dataset) -> keys.WatermarkKey:
    """16 bits, 2 triggers, 64 random masks keeping 3 segments in 4: 2 × (64 + 1) = 130 queries."""
    seed = hashlib.sha256(b"label-only test key").digest()
    triggers, labels = keys.make_triggers(digits.x_train, digits.y_train, 2, "noise", seed=seed)
    segmentation = segments.ImageGrid(16, (1, 8, 8))
    return keys.create_key(
        triggers, labels, segmentation, seed, mask_kind="random", mask_keep=0.75, metric="label"
    )


@pytest.fixture(scope="module")
def watermarked(
    trained_cnn: nn.Module, digits: data.Dataset, label_key: keys.WatermarkKey
) -> tuple[nn.Module, keys.WatermarkKey, embedding.EmbedReport]:
    return watermark_copy(trained_cnn, label_key, digits, LABEL_EMBEDDING)


@pytest.fixture(scope="module")
def served(
    watermarked: tuple[nn.Module, keys.WatermarkKey, embedding.EmbedReport], tmp_path_factory
) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("label-only")
    path = models.save_model(watermarked[0], folder / "watermarked.pt")
    with serve_model(path, folder / "serve.log", answer="labels") as url:
        yield url.removesuffix("/predict")


def test_embedding_a_label_key_keeps_the_model_and_its_triggers(
    watermarked: tuple[nn.Module, keys.WatermarkKey, embedding.EmbedReport],
) -> None:
    report = watermarked[2]
    assert report.triggers_correct
    assert report.clean_acc_after >= report.clean_acc_before - 0.02
    assert report.wsr_after >= 0.8 > report.wsr_before  # bench/label_only.py measures it over keys


@pytest.mark.parametrize("kind", ["labels", "top1"])
def test_a_label_key_verifies_through_an_api_answering_only_labels(
    watermarked: tuple[nn.Module, keys.WatermarkKey, embedding.EmbedReport], served: str, kind: str
) -> None:
    model, key, _ = watermarked
    assessment = remote.assess(key, remote.EndpointConfig(url=f"{served}/{kind}", batch_size=50))
    assert torch.equal(assessment.extraction.bits, explain.extract(model, key).bits)  # what a white box says
    assert assessment.result.is_copy and assessment.result.p_value < 1e-3 and assessment.result.wsr >= 0.8
    usage = assessment.usage
    assert (usage.answer, usage.queries, usage.requests) == (kind, 2 * (64 + 1), 3)


def test_the_model_before_embedding_is_not_a_copy_under_the_label_key(
    trained_cnn: nn.Module, watermarked: tuple[nn.Module, keys.WatermarkKey, embedding.EmbedReport]
) -> None:
    assert not ownership(trained_cnn, watermarked[1]).is_copy


def test_label_keys_read_no_more_than_the_top_1_label() -> None:
    """Every transformation that keeps the argmax (shift, temperature, softmax) gives the same label values."""
    logits = torch.randn(32, 10, generator=torch.Generator().manual_seed(0))
    labels = torch.randint(10, (32,), generator=torch.Generator().manual_seed(1))
    values = explain.metric_values(logits, labels, "label")
    for transformed in (logits + 20, logits / 7, logits.softmax(dim=1), logits.log_softmax(dim=1)):
        assert torch.equal(explain.metric_values(transformed, labels, "label"), values)
