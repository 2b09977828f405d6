"""Each removal attack does what it says, on the session's tiny digits models (attacks.py).

The robustness numbers themselves come from bench/robustness.py on a real model; these tests pin the
transforms down (exact pruning counts, quantisation levels, frozen layers, unchanged predictions), and check
that the attacks which change no behaviour (a logit shift, temperature) leave the verdict unchanged.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tests.verifier.watermark.conftest import ownership
from verifier.watermark import attacks, data, explain, models, training


def weights_of(model: nn.Module) -> list[torch.Tensor]:
    return [m.weight.detach() for m in model.modules() if isinstance(m, attacks.PRUNABLE)]


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
def test_pruning_zeroes_exactly_the_stated_fraction_of_the_smallest_weights(
    trained_cnn: nn.Module, fraction: float
) -> None:
    before = torch.cat([w.flatten() for w in weights_of(trained_cnn)])
    pruned = attacks.prune(trained_cnn, fraction)
    after = torch.cat([w.flatten() for w in weights_of(pruned)])
    zeroed = after == 0
    assert int(zeroed.sum()) == round(fraction * before.numel())
    assert before[zeroed].abs().max() <= before[~zeroed].abs().min()  # the smallest went, globally
    assert torch.equal(after[~zeroed], before[~zeroed])
    assert int((torch.cat([w.flatten() for w in weights_of(trained_cnn)]) == 0).sum()) == 0  # original intact


@pytest.mark.parametrize("bits", [8, 4])
def test_per_channel_rounding_leaves_at_most_2_to_the_b_minus_1_levels_per_channel(
    trained_cnn: nn.Module, bits: int
) -> None:
    rounded = attacks.quantize_weights(trained_cnn, bits)
    for original, w in zip(weights_of(trained_cnn), weights_of(rounded), strict=True):
        scale = original.abs().flatten(1).amax(dim=1) / (2 ** (bits - 1) - 1)  # (out,)
        for channel in range(w.shape[0]):
            assert w[channel].unique().numel() <= 2**bits - 1
            assert (w[channel] - original[channel]).abs().max() <= scale[channel] / 2 + 1e-7
    assert not torch.equal(weights_of(rounded)[0], weights_of(trained_cnn)[0])


def test_int8_keeps_predictions_and_int4_rounds_harder(trained_cnn: nn.Module, digits: data.Dataset) -> None:
    reference = training.predict(trained_cnn, digits.x_test)
    agree = {
        b: (training.predict(attacks.quantize_weights(trained_cnn, b), digits.x_test) == reference)
        for b in (8, 4)
    }
    assert agree[8].float().mean() >= 0.98
    error = {
        b: (weights_of(attacks.quantize_weights(trained_cnn, b))[1] - weights_of(trained_cnn)[1]).abs().mean()
        for b in (8, 4)
    }
    assert error[4] > 4 * error[8]


def test_dynamic_int8_quantises_the_linear_layers(trained_cnn: nn.Module, digits: data.Dataset) -> None:
    quantised = attacks.dynamic_int8(trained_cnn)
    assert not any(type(m) is nn.Linear for m in quantised.modules())  # replaced by the dynamic INT8 kernel
    agree = training.predict(quantised, digits.x_test) == training.predict(trained_cnn, digits.x_test)
    assert agree.float().mean() >= 0.98


def test_head_only_fine_tuning_moves_the_head_and_nothing_else(
    trained_cnn: nn.Module, digits: data.Dataset
) -> None:
    tuned = attacks.fine_tune(trained_cnn, digits.x_train, digits.y_train, lr=0.05, epochs=1, head_only=True)
    body = [n for n, _ in trained_cnn.named_parameters() if not n.startswith("head.")]
    old, new = dict(trained_cnn.named_parameters()), dict(tuned.named_parameters())
    assert all(torch.equal(old[n], new[n]) for n in body)
    assert not torch.equal(old["head.weight"], new["head.weight"])
    everything = attacks.fine_tune(trained_cnn, digits.x_train, digits.y_train, lr=0.05, epochs=1)
    assert not torch.equal(old["conv1.weight"], dict(everything.named_parameters())["conv1.weight"])


def test_reinitialised_head_is_retrained_to_a_useful_classifier(
    trained_cnn: nn.Module, digits: data.Dataset
) -> None:
    tuned = attacks.reinit_head(trained_cnn, digits.x_train, digits.y_train, lr=0.05, epochs=3)
    assert not torch.allclose(tuned.head.weight, trained_cnn.head.weight, atol=1e-2)
    assert torch.equal(tuned.conv1.weight, trained_cnn.conv1.weight)
    assert training.evaluate(tuned, digits.x_test, digits.y_test) >= 0.8


def test_distillation_trains_a_fresh_student_to_follow_the_teacher(
    trained_cnn: nn.Module, digits: data.Dataset
) -> None:
    torch.manual_seed(5)
    student = models.ModelSpec(arch="mlp", num_classes=10, input_shape=(1, 8, 8)).build()
    attacks.distill(trained_cnn, student, digits.x_train, epochs=10, seed=5)
    agree = training.predict(student, digits.x_test) == training.predict(trained_cnn, digits.x_test)
    assert agree.float().mean() >= 0.8


def shifted(model: nn.Module) -> nn.Module:
    return attacks.shift_bias(model, 20.0)


@pytest.mark.parametrize(
    "attack",
    [
        shifted,
        lambda m: attacks.LogitShift(m, -7.0),
        lambda m: attacks.Temperature(m, 0.1),
        lambda m: attacks.Temperature(m, 10.0),
    ],
    ids=["head.bias += 20", "logit shift −7", "temperature 0.1", "temperature 10"],
)
def test_shift_and_temperature_keep_predictions_and_the_verdict(
    watermarked, digits: data.Dataset, attack
) -> None:
    model, key, _ = watermarked
    attacked = attack(model)
    with torch.no_grad():
        before, after = model(digits.x_test), attacked(digits.x_test)
    assert not torch.allclose(before, after) and torch.equal(before.argmax(1), after.argmax(1))
    original, result = ownership(model, key), ownership(attacked, key)
    assert original.is_copy and result.is_copy
    assert result.matches == original.matches


def test_label_only_and_top1_apis_disclose_only_what_they_say(
    trained_cnn: nn.Module, digits: data.Dataset
) -> None:
    with torch.no_grad():
        logits = trained_cnn(digits.x_test)
        labels = attacks.LabelOnly(trained_cnn)(digits.x_test)
        top = attacks.TopProbability(trained_cnn)(digits.x_test)
    assert torch.equal(labels.sum(dim=1), torch.ones(len(labels))) and set(labels.unique().tolist()) == {
        0.0,
        1.0,
    }
    assert torch.equal(labels.argmax(1), logits.argmax(1))
    assert torch.equal(top.argmax(1), logits.argmax(1))
    assert torch.allclose(top.exp().sum(dim=1), torch.ones(len(top)), atol=1e-5)
    assert torch.allclose(top.exp().max(dim=1).values, logits.softmax(dim=1).max(dim=1).values, atol=1e-5)
    others = top.exp().sort(dim=1).values[:, :-1]  # every class but the top one: one shared value per row
    assert torch.allclose(others, others[:, :1].expand_as(others), atol=1e-6)


def test_blur_keeps_a_flat_image_and_noise_changes_the_query(trained_cnn: nn.Module) -> None:
    flat = torch.full((2, 1, 8, 8), 0.3)
    seen: list[torch.Tensor] = []
    probe = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    probe.register_forward_hook(lambda _m, inputs, _o: seen.append(inputs[0]))
    attacks.InputBlur(probe, sigma=1.0)(flat)
    assert torch.allclose(seen[-1], flat)
    attacks.InputNoise(probe, sigma=0.1)(flat)
    assert 0.05 < (seen[-1] - flat).std() < 0.2


def test_the_adaptive_attacker_spots_every_probe_and_the_watermark_is_lost(watermarked) -> None:
    model, key, _ = watermarked
    probes = explain.Explainer(key).masked_inputs(key.triggers)
    assert bool(attacks.looks_occluded(probes, 0.05).all())
    assert not bool(attacks.looks_occluded(torch.rand(50, 1, 8, 8), 0.05).any())  # no flat patch: answered
    adaptive = attacks.RandomOnProbes(model)
    result = ownership(adaptive, key)
    assert adaptive.flagged == len(probes)
    assert not result.is_copy
