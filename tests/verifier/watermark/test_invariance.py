"""Output transformations that do not change behaviour leave the bits and the verdict unchanged (explain.py).

The audit removed the watermark for free with ``head.bias += 20``: the ridge had no intercept, so a constant
added to every logit moved every attribution. Each transformation here is applied to the real classifier head
(or, for log-softmax outputs, to the output) of a tiny model trained in the session, watermarked and innocent
alike.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable

import pytest
import torch
from torch import nn

from verifier.watermark import attacks, data, explain, keys, segments, stats

Transform = Callable[[nn.Linear], None]


class LogSoftmaxOutput(nn.Module):
    """The same classifier answering log-probabilities: no prediction changes, every logit moves by a
    per-input amount (the raw true-class logit lost a 16-bit watermark this way: WSR 1.0 → 0.56)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).log_softmax(dim=1)


@torch.no_grad()
def global_shift(layer: nn.Linear) -> None:
    layer.bias += 20.0


@torch.no_grad()
def per_class_shift(layer: nn.Linear) -> None:
    layer.bias += torch.linspace(-15.0, 25.0, layer.out_features)


def temperature(t: float) -> Transform:
    @torch.no_grad()
    def scale(layer: nn.Linear) -> None:  # logits / T, exactly what a temperature-scaled API returns
        layer.weight /= t
        layer.bias /= t

    return scale


@torch.no_grad()
def shift_and_temperature(layer: nn.Linear) -> None:
    temperature(3.0)(layer)
    per_class_shift(layer)


LOGIT_INVARIANT = {
    "global shift +20": global_shift,
    "per-class shift": per_class_shift,
    "temperature 0.25": temperature(0.25),
    "temperature 4": temperature(4.0),
    "temperature 3 then per-class shift": shift_and_temperature,
    "log-softmax outputs": "log-softmax",
}


def transformed(model: nn.Module, transform: Transform | str) -> nn.Module:
    attacked = copy.deepcopy(model)
    if transform == "log-softmax":
        return LogSoftmaxOutput(attacked).eval()
    transform(attacks.last_linear(attacked))  # the classifier head  # type: ignore[operator]
    return attacked


def assess(model: nn.Module, key: keys.WatermarkKey) -> tuple[explain.Extraction, stats.OwnershipResult]:
    extraction = explain.extract(model, key)
    return extraction, stats.ownership_test(extraction.bits, extraction.reference)


@pytest.mark.parametrize("name", LOGIT_INVARIANT)
def test_a_watermarked_model_keeps_its_bits_and_verdict(watermarked, digits: data.Dataset, name: str) -> None:
    model, key, _ = watermarked
    attacked = transformed(model, LOGIT_INVARIANT[name])
    with torch.no_grad():  # the transformation is real: the logits moved
        before, after = model(digits.x_test), attacked(digits.x_test)
    assert not torch.allclose(before, after)
    if "per-class" not in name:  # a global shift or a temperature keeps every prediction: a free attack
        assert torch.equal(before.argmax(1), after.argmax(1))
    original, result = assess(model, key)
    shifted, shifted_result = assess(attacked, key)
    assert result.is_copy
    assert torch.equal(shifted.bits, original.bits)
    assert shifted_result.to_dict() == result.to_dict()


@pytest.mark.parametrize("name", LOGIT_INVARIANT)
def test_an_innocent_model_keeps_its_bits_and_verdict(
    independent_cnn: nn.Module, digits_key: keys.WatermarkKey, name: str
) -> None:
    """Invariance is not only the owner's protection: an innocent model's bits must not be moved either (the
    audit found the missing intercept biased innocent bits to 61 % "+")."""
    original, result = assess(independent_cnn, digits_key)
    shifted, shifted_result = assess(transformed(independent_cnn, LOGIT_INVARIANT[name]), digits_key)
    assert torch.equal(shifted.bits, original.bits)
    assert shifted_result.to_dict() == result.to_dict()


@pytest.mark.parametrize(
    ("metric", "name"),
    [("probability", "global shift +20"), ("probability", "log-softmax outputs"), ("label", "temperature 4")],
)
def test_the_other_metrics_ignore_what_they_document(
    independent_cnn: nn.Module, digits_key: keys.WatermarkKey, metric: str, name: str
) -> None:
    key = dataclasses.replace(digits_key, metric=metric)
    original, _ = assess(independent_cnn, key)
    shifted, _ = assess(transformed(independent_cnn, LOGIT_INVARIANT[name]), key)
    assert torch.equal(shifted.bits, original.bits)


def test_attributions_scale_with_temperature(watermarked) -> None:
    """Logits / T scale every attribution by 1/T (the ridge is linear and the intercept takes the rest)."""
    model, key, _ = watermarked
    original, _ = assess(model, key)
    cooled, _ = assess(transformed(model, temperature(4.0)), key)
    torch.testing.assert_close(cooled.attributions * 4.0, original.attributions, rtol=1e-3, atol=1e-5)


def test_innocent_bits_are_not_biased_towards_one_sign(
    trained_cnn: nn.Module, independent_cnn: nn.Module, digits: data.Dataset
) -> None:
    """With centred attributions roughly half of an unwatermarked model's bits are "+" (not 61 %)."""
    triggers, labels = keys.make_triggers(digits.x_train, digits.y_train, count=16, kind="noise", seed=11)
    key = keys.create_key(triggers, labels, segments.ImageGrid(16, (1, 8, 8)), bytes(32))
    plus = [float((explain.extract(m, key).bits == 1).float().mean()) for m in (trained_cnn, independent_cnn)]
    assert all(0.35 < share < 0.65 for share in plus), plus
