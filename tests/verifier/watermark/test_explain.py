"""verifier.watermark.explain: batched extraction, the closed-form ridge and the masked inputs."""

from __future__ import annotations

import hashlib

import pytest
import torch
from torch import nn

from verifier.watermark import data, explain, keys, segments, stats


def test_extraction_batches_every_masked_input(watermarked) -> None:
    """No per-mask Python loop: the T·s masked inputs and the T triggers go through in ⌈(T·s + T) / batch⌉ passes."""
    model, key, _ = watermarked
    calls: list[int] = []
    handle = model.register_forward_hook(lambda _m, inputs, _o: calls.append(len(inputs[0])))
    try:
        extraction = explain.extract(model, key, batch_size=1024)
    finally:
        handle.remove()
    assert calls == [key.num_triggers * (key.n_bits + 1)]
    assert extraction.queries == sum(calls)


def test_extraction_leaves_the_key_and_the_model_mode_untouched(watermarked) -> None:
    """The reference code mutated its target tensor in place during evaluation."""
    model, key, _ = watermarked
    before = key.to_bytes()
    model.train()
    explain.extract(model, key)
    assert model.training
    model.eval()
    assert key.to_bytes() == before


def test_attributions_of_one_sign_do_not_crash(digits: data.Dataset) -> None:
    """A constant model explains nothing: every W is 0, every bit −1; the test must still answer."""
    key = keys.create_key(
        digits.x_train[:1],
        digits.y_train[:1],
        segments.ImageGrid(16, (1, 8, 8)),
        hashlib.sha256(b"test key").digest(),
    )
    constant = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    nn.init.zeros_(constant[1].weight)
    nn.init.zeros_(constant[1].bias)
    extraction = explain.extract(constant, key)
    assert torch.all(extraction.bits == -1)
    assert not stats.ownership_test(extraction.bits, extraction.reference).is_copy


@pytest.mark.parametrize("mask_kind", ["leave-one-out", "random"])
def test_the_closed_form_ridge_matches_a_direct_least_squares_solve_with_an_intercept(mask_kind: str) -> None:
    n, lam = 16, 1e-3
    key = keys.create_key(
        torch.rand(1, 1, 8, 8),
        torch.tensor([0]),
        segments.ImageGrid(n, (1, 8, 8)),
        bytes(32),
        mask_kind=mask_kind,
        mask_count=40,
        ridge_lambda=lam,
    )
    explainer = explain.Explainer(key)
    values = torch.randn(explainer.num_masks, dtype=torch.float64)
    masks = key.masks.matrix(n).double()
    # ridge with an unpenalised intercept c = least squares on [M 1; √λ I 0] (W, c) = [v; 0]
    ones = torch.ones(len(masks), 1, dtype=torch.float64)
    augmented = torch.cat(
        [
            torch.cat([masks, ones], dim=1),
            torch.cat([lam**0.5 * torch.eye(n), torch.zeros(n, 1)], dim=1).double(),
        ]
    )
    target = torch.cat([values, torch.zeros(n, dtype=torch.float64)])
    direct = torch.linalg.lstsq(augmented, target).solution[:n]
    closed = explainer.attributions(values.float())[0].double()
    torch.testing.assert_close(closed, direct, rtol=1e-3, atol=1e-3)
    shifted = explainer.attributions((values + 20).float())[0].double()  # the intercept absorbs a constant
    torch.testing.assert_close(shifted, closed, rtol=1e-4, atol=1e-4)


def test_masked_inputs_remove_exactly_the_masked_segments() -> None:
    key = keys.create_key(
        torch.full((1, 1, 4, 4), 0.9),
        torch.tensor([0]),
        segments.ImageGrid(4, (1, 4, 4)),
        bytes(32),
        fill=0.5,
    )
    masked = explain.Explainer(key).masked_inputs(key.triggers)  # leave-one-out: mask i removes segment i
    assert masked.shape == (4, 1, 4, 4)
    assert torch.all(masked[0, 0, :2, :2] == 0.5) and torch.all(masked[0, 0, 2:, :] == 0.9)
    assert torch.all(masked[3, 0, 2:, 2:] == 0.5) and torch.all(masked[3, 0, :2, :] == 0.9)
