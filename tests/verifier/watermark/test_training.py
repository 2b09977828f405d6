"""verifier.training: a real accuracy bar, bit-exact determinism, mode handling and augmentation."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch

from verifier.watermark import data, models, training

FAST = training.TrainConfig(epochs=3, batch_size=16)


@pytest.fixture(scope="module")
def digits() -> data.Dataset:
    return data.load("digits")


def fit_mlp(ds: data.Dataset, config: training.TrainConfig) -> tuple[torch.nn.Module, list[float]]:
    torch.manual_seed(0)  # initialisation is the caller's; train seeds only what happens inside it
    model = models.ModelSpec("mlp", ds.num_classes, ds.input_shape).build()
    return model, training.train(model, ds.x_train, ds.y_train, config)


def test_mlp_on_digits_reaches_90_percent(digits: data.Dataset) -> None:
    model, losses = fit_mlp(digits, FAST)
    assert len(losses) == 3 * -(-len(digits.x_train) // 16)
    assert sum(losses[-10:]) / 10 < losses[0] / 4
    assert training.evaluate(model, digits.x_test, digits.y_test) > 0.9


def test_same_seed_gives_identical_weights(digits: data.Dataset) -> None:
    config = training.TrainConfig(epochs=1, batch_size=64, augment=True, seed=7)
    (a, losses_a), (b, losses_b) = fit_mlp(digits, config), fit_mlp(digits, config)
    assert losses_a == losses_b
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name
    c, _ = fit_mlp(digits, dataclasses.replace(config, seed=8))
    assert not torch.equal(a.state_dict()["head.weight"], c.state_dict()["head.weight"])


def test_train_is_deterministic_from_the_same_initial_weights(digits: data.Dataset) -> None:
    model = models.ModelSpec("cnn", 10, digits.input_shape, width=4).build()
    twin = copy.deepcopy(model)
    config = training.TrainConfig(max_steps=5, augment=True, seed=3)
    training.train(model, digits.x_train, digits.y_train, config)
    torch.manual_seed(12345)  # global state before the call does not matter: train reseeds
    training.train(twin, digits.x_train, digits.y_train, config)
    for (name, pa), pb in zip(model.state_dict().items(), twin.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name


def test_max_steps_and_progress(digits: data.Dataset) -> None:
    seen: list[tuple[int, float]] = []
    model = models.ModelSpec("cnn", 10, digits.input_shape, width=4).build()
    config = training.TrainConfig(epochs=5, max_steps=7, optimizer="adam", lr=1e-3)
    losses = training.train(
        model, digits.x_train, digits.y_train, config, progress=lambda s, v: seen.append((s, v))
    )
    assert len(losses) == 7 and seen == list(enumerate(losses, start=1))


@pytest.mark.parametrize("mode", [True, False])
def test_train_and_evaluate_restore_training_mode(digits: data.Dataset, mode: bool) -> None:
    model = models.ModelSpec("resnet18", 10, digits.input_shape, width=2).build().train(mode)
    training.train(model, digits.x_train[:32], digits.y_train[:32], training.TrainConfig(max_steps=1))
    assert model.training is mode
    accuracy = training.evaluate(model, digits.x_test[:64], digits.y_test[:64])
    assert 0.0 <= accuracy <= 1.0 and model.training is mode
    assert training.predict(model, digits.x_test[:5]).shape == (5,) and model.training is mode


def test_evaluate_uses_eval_mode() -> None:
    seen: list[bool] = []
    model = models.MLP(2, 4)
    model.register_forward_hook(lambda m, i, o: seen.append(m.training))
    training.evaluate(model.train(), torch.randn(3, 4), torch.zeros(3, dtype=torch.int64))
    assert seen == [False]


def test_augment_flips_and_shifts_within_two_pixels() -> None:
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).reshape(2, 1, 6, 6) + 1
    out = training._augment(x.repeat(50, 1, 1, 1), torch.Generator().manual_seed(0))
    assert out.shape == (100, 1, 6, 6)
    for i in range(len(out)):
        src = x[i % 2]
        padded = torch.nn.functional.pad(torch.stack([src, src.flip(-1)]), (2, 2, 2, 2))
        crops = [padded[:, :, dy : dy + 6, dx : dx + 6] for dy in range(5) for dx in range(5)]
        assert any((c == out[i]).all(dim=(1, 2, 3)).any() for c in crops)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (training.TrainConfig(optimizer="lbfgs"), "unknown optimizer 'lbfgs'"),
        (training.TrainConfig(augment=True), "augment works on image batches"),
        (training.TrainConfig(batch_size=0), "must be positive"),
    ],
)
def test_bad_config_raises(config: training.TrainConfig, message: str) -> None:
    with pytest.raises(training.TrainingError, match=message):
        training.train(models.MLP(2, 4), torch.randn(8, 4), torch.zeros(8, dtype=torch.int64), config)


def test_mismatched_inputs_raise() -> None:
    with pytest.raises(training.TrainingError, match="3 inputs, 2 labels"):
        training.evaluate(models.MLP(2, 4), torch.randn(3, 4), torch.zeros(2, dtype=torch.int64))
