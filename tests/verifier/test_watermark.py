"""The interpretable watermark on real (tiny) models trained in the test: embed, extract, test, keys."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import torch
from torch import nn

from verifier import watermark
from verifier.watermark import data, models, stats, training


def ownership(model: nn.Module, key: watermark.WatermarkKey) -> stats.OwnershipResult:
    extraction = watermark.extract(model, key)
    return stats.ownership_test(extraction.bits, extraction.reference)


# --------------------------------------------------------------------------- embed and test


def test_embedding_writes_the_bits_and_keeps_predictions(watermarked, digits: data.Dataset) -> None:
    model, key, report = watermarked
    result = ownership(model, key)
    assert report.wsr_before < 0.9 and report.wsr_after == 1.0
    assert result.wsr == 1.0 and result.is_copy
    assert result.p_chi2 < 1e-4 and result.p_binomial < 1e-4
    assert report.triggers_correct, (report.trigger_labels, report.trigger_predictions)
    assert report.clean_acc_after >= report.clean_acc_before - 0.05  # measured on the held-out quarter
    assert key.embedding["steps"] == 400 and key.embedding["epsilon"] == 0.01


def test_an_independently_trained_model_is_not_a_copy(independent_cnn: nn.Module, watermarked) -> None:
    _, key, _ = watermarked
    result = ownership(independent_cnn, key)
    assert result.p_chi2 > 0.01
    assert not result.is_copy


def test_the_clean_model_before_embedding_is_not_a_copy(trained_cnn: nn.Module, watermarked) -> None:
    _, key, _ = watermarked
    assert not ownership(trained_cnn, key).is_copy


def test_a_flipped_key_is_not_a_copy(watermarked) -> None:
    model, key, _ = watermarked
    flipped = watermark.WatermarkKey.from_dict(
        {**key.to_dict(), "bits": key.to_dict()["bits"].translate(str.maketrans("+-", "-+"))}
    )
    result = ownership(model, flipped)
    assert result.wsr == 0.0
    assert not result.is_copy


def test_label_only_extraction_works_on_a_hard_label_model(
    trained_cnn: nn.Module, digits: data.Dataset
) -> None:
    """A hard-label API answers only the top label: random masks keeping 3/4 of the input (s = 16n), and a
    sigmoid surrogate of the step to embed."""
    triggers, labels = watermark.make_triggers(digits.x_train, digits.y_train, count=4, kind="noise", seed=3)
    key = watermark.create_key(
        triggers,
        labels,
        watermark.ImageGrid(16, (1, 8, 8)),
        b"label-only",
        metric="label",
        mask_kind="random",
        mask_count=256,
        mask_keep=0.75,
    )
    model = copy.deepcopy(trained_cnn)
    config = watermark.EmbedConfig(steps=400, lr=1e-3, epsilon=0.05)  # labels move only with larger steps
    key, report = watermark.embed(model, key, digits.x_train, digits.y_train, config)
    result = ownership(model, key)
    assert result.is_copy and result.p_binomial < 1e-4, result.verdict
    assert report.triggers_correct


def test_a_score_api_model_carries_the_watermark_in_its_probabilities(
    trained_cnn: nn.Module, digits: data.Dataset
) -> None:
    """An API that returns class probabilities (not logits): the ridge explains the true class's probability."""
    triggers, labels = watermark.make_triggers(digits.x_train, digits.y_train, count=2, kind="noise", seed=5)
    key = watermark.create_key(
        triggers, labels, watermark.ImageGrid(16, (1, 8, 8)), b"probability", metric="probability"
    )
    model = copy.deepcopy(trained_cnn)
    key, report = watermark.embed(
        model, key, digits.x_train, digits.y_train, watermark.EmbedConfig(steps=400)
    )
    assert ownership(model, key).is_copy and report.triggers_correct
    assert not ownership(trained_cnn, key).is_copy


def test_extraction_batches_every_masked_input(watermarked) -> None:
    """No per-mask Python loop: the T·s masked inputs and the T triggers go through in ⌈(T·s + T) / batch⌉ passes."""
    model, key, _ = watermarked
    calls: list[int] = []
    handle = model.register_forward_hook(lambda _m, inputs, _o: calls.append(len(inputs[0])))
    try:
        extraction = watermark.extract(model, key, batch_size=1024)
    finally:
        handle.remove()
    assert calls == [key.num_triggers * (key.n_bits + 1)]
    assert extraction.queries == sum(calls)


def test_extraction_leaves_the_key_and_the_model_mode_untouched(watermarked) -> None:
    """The reference code mutated its target tensor in place during evaluation."""
    model, key, _ = watermarked
    before = key.to_bytes()
    model.train()
    watermark.extract(model, key)
    assert model.training
    model.eval()
    assert key.to_bytes() == before


def test_attributions_of_one_sign_do_not_crash(digits: data.Dataset) -> None:
    """A constant model explains nothing: every W is 0, every bit −1; the test must still answer."""
    key = watermark.create_key(
        digits.x_train[:1], digits.y_train[:1], watermark.ImageGrid(16, (1, 8, 8)), b"test key"
    )
    constant = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    nn.init.zeros_(constant[1].weight)
    nn.init.zeros_(constant[1].bias)
    extraction = watermark.extract(constant, key)
    assert torch.all(extraction.bits == -1)
    assert not stats.ownership_test(extraction.bits, extraction.reference).is_copy


def test_a_tabular_model_carries_a_watermark_in_feature_groups() -> None:
    wine = data.load("wine")
    model = models.ModelSpec(arch="mlp", num_classes=3, input_shape=wine.input_shape).build()
    training.train(
        model, wine.x_train, wine.y_train, training.TrainConfig(epochs=30, lr=1e-2, optimizer="adam")
    )
    triggers, labels = watermark.make_triggers(wine.x_train, wine.y_train, count=4, kind="noise", seed=1)
    key = watermark.create_key(
        triggers, labels, watermark.FeatureGroups(9, wine.input_shape), b"test key", fill=0.0
    )
    key, report = watermark.embed(
        model,
        key,
        wine.x_train,
        wine.y_train,
        watermark.EmbedConfig(steps=300),
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
    triggers, labels = watermark.make_triggers(x_train, digits.y_train, count=4, kind="noise", seed=2)
    key = watermark.create_key(triggers, labels, watermark.SequenceSpans(8, (64,)), b"sequence key")
    key, report = watermark.embed(
        model,
        key,
        x_train,
        digits.y_train,
        watermark.EmbedConfig(steps=400),
        x_test=x_test,
        y_test=digits.y_test,
    )
    assert ownership(model, key).is_copy
    assert report.triggers_correct and report.clean_acc_after >= report.clean_acc_before - 0.05


# --------------------------------------------------------------------------- the ridge and the masks


@pytest.mark.parametrize(
    "scheme", [watermark.MaskScheme(), watermark.MaskScheme(kind="random", count=40, seed=5)]
)
def test_the_closed_form_ridge_matches_a_direct_least_squares_solve(scheme: watermark.MaskScheme) -> None:
    n, lam = 16, 1e-3
    key = watermark.WatermarkKey(
        bits=watermark.keyed_bits(b"s", n),
        triggers=torch.rand(1, 1, 8, 8),
        labels=torch.tensor([0]),
        segmentation=watermark.ImageGrid(n, (1, 8, 8)),
        masks=scheme,
        ridge_lambda=lam,
    )
    explainer = watermark.Explainer(key)
    values = torch.randn(explainer.num_masks, dtype=torch.float64)
    masks = scheme.matrix(n).double()
    # ridge = least squares on the augmented system [M; √λ I] W = [v; 0]
    augmented = torch.cat([masks, lam**0.5 * torch.eye(n, dtype=torch.float64)])
    direct = torch.linalg.lstsq(augmented, torch.cat([values, torch.zeros(n, dtype=torch.float64)])).solution
    closed = explainer.attributions(values.float())[0].double()
    torch.testing.assert_close(closed, direct, rtol=1e-3, atol=1e-3)


def test_masked_inputs_remove_exactly_the_masked_segments() -> None:
    key = watermark.WatermarkKey(
        bits=watermark.keyed_bits(b"s", 4),
        triggers=torch.full((1, 1, 4, 4), 0.9),
        labels=torch.tensor([0]),
        segmentation=watermark.ImageGrid(4, (1, 4, 4)),
        fill=0.5,
    )
    masked = watermark.Explainer(key).masked_inputs(key.triggers)  # leave-one-out: mask i removes segment i
    assert masked.shape == (4, 1, 4, 4)
    assert torch.all(masked[0, 0, :2, :2] == 0.5) and torch.all(masked[0, 0, 2:, :] == 0.9)
    assert torch.all(masked[3, 0, 2:, 2:] == 0.5) and torch.all(masked[3, 0, :2, :] == 0.9)


@pytest.mark.parametrize(
    ("segmentation", "shape"),
    [
        (watermark.ImageGrid(64, (3, 32, 32)), (3, 32, 32)),
        (watermark.ImageGrid(9, (1, 28, 28)), (1, 28, 28)),
        (watermark.SequenceSpans(10, (100,)), (100,)),
        (watermark.SequenceSpans(4, (2, 10)), (2, 10)),
        (watermark.FeatureGroups(5, (13,)), (13,)),
    ],
)
def test_segmentations_cover_the_input_with_n_nonempty_segments(segmentation, shape) -> None:
    assignment = segmentation.assignment()
    assert tuple(assignment.shape) == shape
    assert torch.equal(assignment.unique(), torch.arange(segmentation.n))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: watermark.ImageGrid(10, (1, 8, 8)), "perfect-square number of bits, not 10"),
        (lambda: watermark.ImageGrid(16, (8, 8)), "needs (C, H, W) inputs"),
        (lambda: watermark.FeatureGroups(20, (13,)), "F ≥ 20"),
        (lambda: watermark.MaskScheme(kind="random", count=3).matrix(16), "at least as many masks as bits"),
        (lambda: watermark.MaskScheme(kind="lime").matrix(4), "unknown mask scheme 'lime'"),
    ],
)
def test_impossible_settings_raise_a_clear_error(build, message: str) -> None:
    with pytest.raises(watermark.WatermarkError, match=_literal(message)):
        build()


def test_segments_equal_to_the_fill_are_refused_before_embedding(
    trained_cnn: nn.Module, digits: data.Dataset
) -> None:
    """DESIGN.md §7: with fill 0, the black border of a digit carries no bit; embedding says so up front."""
    triggers, labels = digits.x_train[:1], digits.y_train[:1]
    key = watermark.create_key(triggers, labels, watermark.ImageGrid(16, (1, 8, 8)), b"test key", fill=0.0)
    stuck = watermark.uncontrollable_segments(key)
    assert stuck and all(t == 0 for t, _ in stuck)
    assert (
        watermark.uncontrollable_segments(
            watermark.create_key(triggers, labels, watermark.ImageGrid(16, (1, 8, 8)), b"test key", fill=0.5)
        )
        == []
    )
    model = copy.deepcopy(trained_cnn)
    before = [p.clone() for p in model.parameters()]
    with pytest.raises(watermark.WatermarkError, match="equal the fill value 0.0 everywhere"):
        watermark.embed(model, key, digits.x_train, digits.y_train)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


# --------------------------------------------------------------------------- the key


def test_the_key_round_trips_through_its_canonical_bytes(digits_key: watermark.WatermarkKey) -> None:
    again = watermark.WatermarkKey.from_bytes(digits_key.to_bytes())
    assert again.to_bytes() == digits_key.to_bytes()
    assert torch.equal(again.triggers, digits_key.triggers) and torch.equal(again.bits, digits_key.bits)
    assert again.segmentation == digits_key.segmentation


def test_the_key_hash_is_stable_across_processes() -> None:
    """Same secret and triggers → same bytes → same hash in a fresh interpreter (what the chain anchors)."""
    script = (
        "import torch; from verifier import watermark as w; "
        "t = torch.arange(64, dtype=torch.float32).reshape(1, 1, 8, 8) / 64; "
        "print(w.create_key(t, torch.tensor([3]), w.ImageGrid(16, (1, 8, 8)), b'secret').sha256)"
    )
    run = [
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
        for _ in (1, 2)
    ]
    here = watermark.create_key(
        torch.arange(64, dtype=torch.float32).reshape(1, 1, 8, 8) / 64,
        torch.tensor([3]),
        watermark.ImageGrid(16, (1, 8, 8)),
        b"secret",
    ).sha256
    assert run[0].stdout.strip() == run[1].stdout.strip() == here


def test_bits_come_from_the_secret() -> None:
    assert torch.equal(watermark.keyed_bits(b"a", 256), watermark.keyed_bits(b"a", 256))
    assert not torch.equal(watermark.keyed_bits(b"a", 256), watermark.keyed_bits(b"b", 256))
    assert int(watermark.keyed_bits(b"a", 256).sum()) == 0 and int(watermark.keyed_bits(b"a", 9).sum()) == 1


def test_bits_drawn_for_a_model_agree_with_its_natural_explanation_at_chance(
    trained_cnn: nn.Module, digits: data.Dataset
) -> None:
    """Innocent models share the natural pattern; a key must not happen to agree with it (bench: 3 of 22
    innocents crossed α together for one unlucky 256-bit key)."""
    triggers, labels = watermark.make_triggers(digits.x_train, digits.y_train, count=1, kind="edge", seed=4)
    for secret in (b"one", b"two", b"three"):
        key = watermark.create_key(
            triggers, labels, watermark.ImageGrid(16, (1, 8, 8)), secret, model=trained_cnn
        )
        assert watermark.extract(trained_cnn, key).wsr == 0.5
        assert int(key.bits.sum()) == 0


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: b"LMSEAL\x01...", "not UTF-8 JSON (is it still sealed?)"),
        (lambda d: {**d, "format": "other"}, "format marker"),
        (lambda d: {**d, "version": 9}, "unsupported watermark key version 9"),
        (lambda d: {**d, "bits": "+-x"}, "string of '+' and '-'"),
        (lambda d: {**d, "bits": d["bits"][:-1]}, "15 bits but the segmentation has 16 segments"),
        (lambda d: {**d, "metric": "vibes"}, "unknown metric 'vibes'"),
        (lambda d: {**d, "labels": [1]}, "exactly one label per trigger"),
        (lambda d: {k: v for k, v in d.items() if k != "fill"}, "malformed watermark key: 'fill'"),
        (lambda d: {**d, "triggers": {**d["triggers"], "data": "AAAA"}}, "tensor data holds 3 bytes"),
    ],
)
def test_a_malformed_key_file_raises_a_clear_error(digits_key, mutate, message: str) -> None:
    import json

    document = mutate(digits_key.to_dict())
    raw = document if isinstance(document, bytes) else json.dumps(document).encode()
    with pytest.raises(watermark.WatermarkError, match=_literal(message)):
        watermark.WatermarkKey.from_bytes(raw)


@pytest.mark.parametrize("kind", watermark.TRIGGER_KINDS)
def test_triggers_are_real_inputs_with_their_true_labels(digits: data.Dataset, kind: str) -> None:
    triggers, labels = watermark.make_triggers(digits.x_train, digits.y_train, count=3, kind=kind, seed=1)
    again, _ = watermark.make_triggers(digits.x_train, digits.y_train, count=3, kind=kind, seed=1)
    assert triggers.shape == (3, 1, 8, 8) and torch.equal(triggers, again)
    assert 0 <= float(triggers.min()) and float(triggers.max()) <= 1
    picked = [int((digits.x_train.flatten(1) - t.flatten()).abs().sum(1).argmin()) for t in triggers]
    assert labels.tolist() == digits.y_train[picked].tolist()


def _literal(message: str) -> str:
    import re

    return re.escape(message)
