"""verifier.watermark.embedding on real (tiny) models trained in the test: embed, extract, test."""

from __future__ import annotations

import copy
import hashlib

import pytest
import torch
from torch import nn

from tests.verifier.watermark.conftest import ownership
from verifier.watermark import data, embedding, errors, explain, keys, models, segments, stats, training


def test_embedding_writes_the_bits_and_keeps_predictions(watermarked, digits: data.Dataset) -> None:
    model, key, report = watermarked
    result = ownership(model, key)
    assert report.wsr_before < 0.9 and report.wsr_after == 1.0
    assert result.wsr == 1.0 and result.is_copy
    assert result.p_value < 1e-4 and result.positive_association
    assert report.triggers_correct, (report.trigger_labels, report.trigger_predictions)
    assert report.clean_acc_after >= report.clean_acc_before - 0.05  # measured on the held-out quarter
    assert key.embedding["steps"] == 400 and key.embedding["epsilon"] == 0.01


def test_an_independently_trained_model_is_not_a_copy(independent_cnn: nn.Module, watermarked) -> None:
    _, key, _ = watermarked
    result = ownership(independent_cnn, key)
    assert result.p_value > 0.01
    assert not result.is_copy


def test_the_clean_model_before_embedding_is_not_a_copy(trained_cnn: nn.Module, watermarked) -> None:
    _, key, _ = watermarked
    assert not ownership(trained_cnn, key).is_copy


def test_a_flipped_watermark_is_not_a_copy_and_a_flipped_key_is_refused(watermarked) -> None:
    model, key, _ = watermarked
    extraction = explain.extract(model, key)
    result = stats.ownership_test(extraction.bits, -extraction.reference)
    assert result.wsr == 0.0 and not result.positive_association
    assert not result.is_copy
    flipped = {**key.to_dict(), "bits": key.to_dict()["bits"].translate(str.maketrans("+-", "-+"))}
    with pytest.raises(errors.WatermarkError, match="bits do not re-derive from the key's seed"):
        keys.WatermarkKey.from_dict(flipped)


def test_label_only_extraction_works_on_a_hard_label_model(
    trained_cnn: nn.Module, digits: data.Dataset
) -> None:
    """A hard-label API answers only the top label: random masks keeping 3/4 of the input (s = 16n), and a
    sigmoid surrogate of the step to embed."""
    triggers, labels = keys.make_triggers(digits.x_train, digits.y_train, count=4, kind="noise", seed=3)
    key = keys.create_key(
        triggers,
        labels,
        segments.ImageGrid(16, (1, 8, 8)),
        hashlib.sha256(b"label-only").digest(),
        metric="label",
        mask_kind="random",
        mask_count=256,
        mask_keep=0.75,
    )
    model = copy.deepcopy(trained_cnn)
    config = embedding.EmbedConfig(steps=400, lr=1e-3, epsilon=0.05)  # labels move only with larger steps
    key, report = embedding.embed(model, key, digits.x_train, digits.y_train, config)
    result = ownership(model, key)
    assert result.is_copy and result.p_value < 1e-4, result.verdict
    assert report.triggers_correct


def test_a_score_api_model_carries_the_watermark_in_its_probabilities(
    trained_cnn: nn.Module, digits: data.Dataset
) -> None:
    """An API that returns class probabilities (not logits): the ridge explains the true class's probability."""
    triggers, labels = keys.make_triggers(digits.x_train, digits.y_train, count=2, kind="noise", seed=5)
    key = keys.create_key(
        triggers,
        labels,
        segments.ImageGrid(16, (1, 8, 8)),
        hashlib.sha256(b"probability").digest(),
        metric="probability",
    )
    model = copy.deepcopy(trained_cnn)
    key, report = embedding.embed(
        model, key, digits.x_train, digits.y_train, embedding.EmbedConfig(steps=400)
    )
    assert ownership(model, key).is_copy and report.triggers_correct
    assert not ownership(trained_cnn, key).is_copy


def test_a_tabular_model_carries_a_watermark_in_feature_groups() -> None:
    wine = data.load("wine")
    torch.manual_seed(0)  # the initial weights, whichever tests ran before
    model = models.ModelSpec(arch="mlp", num_classes=3, input_shape=wine.input_shape).build()
    training.train(
        model, wine.x_train, wine.y_train, training.TrainConfig(epochs=30, lr=1e-2, optimizer="adam")
    )
    triggers, labels = keys.make_triggers(wine.x_train, wine.y_train, count=4, kind="noise", seed=1)
    key = keys.create_key(
        triggers,
        labels,
        segments.FeatureGroups(9, wine.input_shape),
        hashlib.sha256(b"test key").digest(),
        fill=0.0,
    )
    key, report = embedding.embed(
        model,
        key,
        wine.x_train,
        wine.y_train,
        # lr 1e-3: at the default 1e-4 the hinge was still ~2.4 after 300 steps for initial seeds 0-2 (before
        # and after the split alike); the test passed only on the RNG state earlier tests left behind
        embedding.EmbedConfig(steps=300, lr=1e-3),
        x_test=wine.x_test,
        y_test=wine.y_test,
    )
    assert ownership(model, key).is_copy
    assert report.clean_acc_after >= report.clean_acc_before - 0.05


def test_a_sequence_model_carries_a_watermark_in_spans(digits: data.Dataset) -> None:
    """Digits read row by row as 64-step sequences: n contiguous spans instead of a grid."""
    x_train, x_test = digits.x_train.flatten(1), digits.x_test.flatten(1)
    torch.manual_seed(0)
    model = models.ModelSpec(arch="mlp", num_classes=10, input_shape=(64,)).build()
    training.train(model, x_train, digits.y_train, training.TrainConfig(epochs=20, lr=2e-3, optimizer="adam"))
    triggers, labels = keys.make_triggers(x_train, digits.y_train, count=4, kind="noise", seed=2)
    key = keys.create_key(
        triggers, labels, segments.SequenceSpans(8, (64,)), hashlib.sha256(b"sequence key").digest()
    )
    key, report = embedding.embed(
        model,
        key,
        x_train,
        digits.y_train,
        embedding.EmbedConfig(steps=400),
        x_test=x_test,
        y_test=digits.y_test,
    )
    assert ownership(model, key).is_copy
    assert report.triggers_correct and report.clean_acc_after >= report.clean_acc_before - 0.05


def test_segments_equal_to_the_fill_are_refused_before_embedding(
    trained_cnn: nn.Module, digits: data.Dataset
) -> None:
    """DESIGN.md §7: with fill 0, the black border of a digit carries no bit; embedding says so up front."""
    triggers, labels = digits.x_train[:1], digits.y_train[:1]
    key = keys.create_key(
        triggers, labels, segments.ImageGrid(16, (1, 8, 8)), hashlib.sha256(b"test key").digest(), fill=0.0
    )
    stuck = explain.uncontrollable_segments(key)
    assert stuck and all(t == 0 for t, _ in stuck)
    assert (
        explain.uncontrollable_segments(
            keys.create_key(
                triggers,
                labels,
                segments.ImageGrid(16, (1, 8, 8)),
                hashlib.sha256(b"test key").digest(),
                fill=0.5,
            )
        )
        == []
    )
    model = copy.deepcopy(trained_cnn)
    before = [p.clone() for p in model.parameters()]
    with pytest.raises(errors.WatermarkError, match="equal the fill value 0.0 everywhere"):
        embedding.embed(model, key, digits.x_train, digits.y_train)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
