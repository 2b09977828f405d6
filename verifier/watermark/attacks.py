"""Removal attacks on a watermarked model: what a thief can do with the weights, or behind an API.

Two kinds, both reusable by tests and benchmarks (bench/robustness.py):

* weight attacks return a NEW model and never touch the one given: fine-tuning (every layer or the head only),
  re-initialising and retraining the head, global magnitude pruning, per-channel INT8/INT4 weight rounding,
  torch's dynamic INT8, distillation into a fresh student, and overwriting with the attacker's own key;
* output and query attacks wrap the model in an ``nn.Module`` whose output is all a verifier sees: a constant
  logit shift, temperature scaling, noise or blur on the queries, label-only and top-1-probability APIs, and
  the adaptive API that spots occluded probe inputs and answers them at random.

Wrappers return logits-like tensors (B, classes) so ``explain.extract`` reads them unchanged: a label-only API
answers a one-hot row (the "logit" metric then sees 1[label correct]); a top-1 API answers the log of the
maximum-entropy completion of the one probability it discloses.

References: Uchida et al., "Embedding watermarks into deep neural networks" (pruning, fine-tuning), ICMR 2017;
Lukas et al., "SoK: How robust is image classification deep neural network watermarking?", IEEE S&P 2022
(the attack catalogue: RTLL/RTAL, quantisation, distillation, input transforms, query detection).
"""

from __future__ import annotations

import copy
import math
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from verifier.watermark import training
from verifier.watermark.errors import WatermarkError

PRUNABLE = (nn.Conv1d, nn.Conv2d, nn.Linear)


# --------------------------------------------------------------------------- weight attacks


def fine_tune(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    lr: float,
    epochs: int,
    head_only: bool = False,
    batch_size: int = 64,
    seed: int = 0,
) -> nn.Module:
    """A copy trained further with SGD (momentum, cosine decay) on the attacker's data; ``head_only`` freezes
    everything but the last linear layer."""
    tuned = copy.deepcopy(model)
    config = training.TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=0.0, seed=seed)
    if head_only:
        _train_head(tuned, x, y, config)
    else:
        training.train(tuned, x, y, config)
    return tuned.eval()


def reinit_head(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    lr: float,
    epochs: int,
    train_body: bool = False,
    seed: int = 0,
) -> nn.Module:
    """A copy whose last linear layer is re-initialised, then retrained (alone, or with the body)."""
    tuned = copy.deepcopy(model)
    torch.manual_seed(seed)
    last_linear(tuned).reset_parameters()
    config = training.TrainConfig(epochs=epochs, batch_size=64, lr=lr, weight_decay=0.0, seed=seed)
    if train_body:
        training.train(tuned, x, y, config)
    else:
        _train_head(tuned, x, y, config)
    return tuned.eval()


def _train_head(model: nn.Module, x: torch.Tensor, y: torch.Tensor, config: training.TrainConfig) -> None:
    """Train the last linear layer alone on its inputs, computed once: the frozen body gives the same features
    every epoch (eval mode: no dropout, BatchNorm running statistics frozen), so this equals end-to-end
    training with the body frozen, at the cost of one forward pass."""
    head = last_linear(model)
    captured: list[torch.Tensor] = []
    hook = head.register_forward_hook(lambda _m, inputs, _out: captured.append(inputs[0].detach()))
    try:
        training.predict(model, x)
    finally:
        hook.remove()
    training.train(head, torch.cat(captured), y, config)


@torch.no_grad()
def prune(model: nn.Module, fraction: float) -> nn.Module:
    """Global magnitude pruning: a copy with the ``fraction`` smallest conv/linear weights (biases kept) set
    to zero, ranked across all layers together."""
    if not 0 <= fraction < 1:
        raise WatermarkError(f"pruning fraction must lie in [0, 1), not {fraction}")
    pruned = copy.deepcopy(model)
    weights = [m.weight for m in pruned.modules() if isinstance(m, PRUNABLE)]
    flat = torch.cat([w.flatten() for w in weights])
    flat[flat.abs().argsort(stable=True)[: round(fraction * flat.numel())]] = 0  # exact count, ties included
    for w, part in zip(weights, flat.split([w.numel() for w in weights]), strict=True):
        w.copy_(part.view_as(w))
    return pruned.eval()


@torch.no_grad()
def quantize_weights(model: nn.Module, bits: int) -> nn.Module:
    """Symmetric per-output-channel weight rounding to ``bits`` (INT8: 255 levels, INT4: 15), stored back as
    float (fake quantisation: the arithmetic a deployed integer kernel would reproduce, in float)."""
    if not 2 <= bits <= 16:
        raise WatermarkError(f"quantisation needs 2 to 16 bits, not {bits}")
    levels = 2 ** (bits - 1) - 1  # symmetric: −levels..levels
    rounded = copy.deepcopy(model)
    for module in rounded.modules():
        if isinstance(module, PRUNABLE):
            w = module.weight
            scale = w.abs().flatten(1).amax(dim=1).clamp_min(1e-12) / levels  # (out,)
            scale = scale.view(-1, *([1] * (w.dim() - 1)))
            w.copy_((w / scale).round().clamp(-levels, levels) * scale)
    return rounded.eval()


def dynamic_int8(model: nn.Module) -> nn.Module:
    """torch's post-training dynamic INT8 quantisation (weights INT8, activations quantised on the fly);
    torch covers linear layers only, so convolutions stay float."""
    with warnings.catch_warnings():  # torch deprecates torch.ao in favour of torchao, not installed here
        warnings.simplefilter("ignore", (DeprecationWarning, UserWarning))
        return torch.ao.quantization.quantize_dynamic(
            copy.deepcopy(model).eval(), {nn.Linear}, dtype=torch.qint8
        )


def distill(
    teacher: nn.Module,
    student: nn.Module,
    x: torch.Tensor,
    *,
    epochs: int,
    lr: float = 0.05,
    temperature: float = 4.0,
    batch_size: int = 64,
    seed: int = 0,
) -> nn.Module:
    """Train a fresh ``student`` (in place, returned) on the teacher's softened outputs over the attacker's
    unlabelled inputs (Hinton et al., 2015): the student never sees the teacher's weights."""
    with torch.no_grad(), training.eval_mode(teacher):  # the teacher's answers, queried once per input
        target = (torch.cat([teacher(chunk) for chunk in x.split(512)]) / temperature).log_softmax(dim=1)

    def softened_kl(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        student_log_p = (logits / temperature).log_softmax(dim=1)
        kl = F.kl_div(student_log_p, target, log_target=True, reduction="batchmean")
        return kl * temperature**2  # keeps the gradient's scale independent of the temperature

    config = training.TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=0.0, seed=seed)
    training.train(student, x, target, config, loss_fn=softened_kl)
    return student.eval()


def shift_bias(model: nn.Module, shift: float) -> nn.Module:
    """A copy whose last layer's bias is raised by ``shift``: every logit moves the same amount, so every
    prediction and probability stays (the free removal the issue reports against an intercept-free ridge)."""
    shifted = copy.deepcopy(model)
    head = last_linear(shifted)
    if head.bias is None:
        raise WatermarkError("the model's last linear layer has no bias to shift")
    with torch.no_grad():
        head.bias += shift
    return shifted.eval()


def last_linear(model: nn.Module) -> nn.Linear:
    """The model's last ``nn.Linear`` in registration order: the classification head of every bundled arch."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise WatermarkError("the model has no linear layer to treat as its head")
    return linears[-1]


# --------------------------------------------------------------------------- output and query attacks


class Wrapped(nn.Module):
    """A model seen through a transformation of its inputs or outputs; extraction only sees ``forward``."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - every subclass overrides
        raise NotImplementedError


class LogitShift(Wrapped):
    """Adds a constant to every logit: predictions and probabilities unchanged."""

    def __init__(self, model: nn.Module, shift: float):
        super().__init__(model)
        self.shift = shift

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x) + self.shift


class Temperature(Wrapped):
    """Divides every logit by a positive temperature: predictions unchanged, confidence rescaled."""

    def __init__(self, model: nn.Module, temperature: float):
        super().__init__(model)
        if not temperature > 0:
            raise WatermarkError(f"temperature must be positive, not {temperature}")
        self.temperature = temperature

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x) / self.temperature


class InputNoise(Wrapped):
    """Adds Gaussian noise of standard deviation ``sigma`` to every query (fresh noise per call, seeded)."""

    def __init__(self, model: nn.Module, sigma: float, seed: int = 0):
        super().__init__(model)
        self.sigma = sigma
        self.generator = torch.Generator().manual_seed(seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x + self.sigma * torch.randn(x.shape, generator=self.generator))


class InputBlur(Wrapped):
    """Blurs every query image (N, C, H, W) with a separable Gaussian kernel of standard deviation ``sigma``."""

    def __init__(self, model: nn.Module, sigma: float):
        super().__init__(model)
        radius = max(1, math.ceil(2 * sigma))
        offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
        kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
        self.register_buffer("kernel", kernel / kernel.sum())
        self.radius = radius

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        horizontal = self.kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1)
        vertical = self.kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1)
        padded = F.pad(x, (self.radius,) * 4, mode="replicate")
        blurred = F.conv2d(F.conv2d(padded, horizontal, groups=channels), vertical, groups=channels)
        return self.model(blurred)


class LabelOnly(Wrapped):
    """An API answering only the top-1 label, as a one-hot row."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.model(x)
        return F.one_hot(logits.argmax(dim=1), logits.shape[1]).to(logits.dtype)


class TopProbability(Wrapped):
    """An API answering the top-1 label and its probability p; the row returned is the log of the
    maximum-entropy completion (p on the top class, (1 − p)/(C − 1) on each other), the most a verifier can
    reconstruct."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probabilities = self.model(x).softmax(dim=1)
        top, label = probabilities.max(dim=1)
        classes = probabilities.shape[1]
        rest = ((1 - top) / (classes - 1)).clamp_min(1e-12)
        completed = rest[:, None].expand(-1, classes).scatter(1, label[:, None], top[:, None])
        return completed.log()


class RandomOnProbes(Wrapped):
    """The adaptive attacker: a query in which one exact value that is neither 0 nor 1 covers at least
    ``min_fraction`` of the pixels looks like an occluded probe (natural images rarely hold a large flat
    patch at one mid-grey level) and gets random logits; every other query gets the model's answer. With
    ``levels`` (255 for 8-bit images) only values off the grid k/levels count: a real 8-bit photo has none."""

    def __init__(
        self, model: nn.Module, min_fraction: float = 0.05, levels: int | None = None, seed: int = 0
    ):
        super().__init__(model)
        self.min_fraction = min_fraction
        self.levels = levels
        self.generator = torch.Generator().manual_seed(seed)
        self.flagged = 0  # queries answered at random so far

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.model(x)
        probes = looks_occluded(x, self.min_fraction, self.levels)
        self.flagged += int(probes.sum())
        noise = torch.randn(logits.shape, generator=self.generator) * logits.std()
        return torch.where(probes[:, None], noise, logits)


def looks_occluded(x: torch.Tensor, min_fraction: float, levels: int | None = None) -> torch.Tensor:
    """(B,) bool: the most frequent value outside {0, 1} (and, with ``levels``, off the grid k/levels)
    covers at least ``min_fraction`` of the input."""
    flat = x.flatten(1)
    candidate = (flat > 0) & (flat < 1)
    if levels is not None:
        scaled = flat * levels
        candidate &= (scaled - scaled.round()).abs() > 1e-3
    counts = torch.zeros(len(flat))
    for row, (values, keep) in enumerate(zip(flat, candidate, strict=True)):
        kept = values[keep]
        if kept.numel():
            counts[row] = kept.unique(return_counts=True)[1].max()
    return counts >= min_fraction * flat.shape[1]
