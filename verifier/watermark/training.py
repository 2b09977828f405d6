"""Train and evaluate classifiers: the one loop shared by tests, the CLI and the benchmarks.

Training is deterministic given ``TrainConfig.seed``: torch is seeded globally (dropout and anything else that
draws from the global generator) and a separate ``torch.Generator`` drives shuffling and augmentation, so two
runs from the same initial weights give bit-identical weights on the same machine and thread count.
Initialisation happens in ``ModelSpec.build()``, before ``train``: seed torch before building to fix it too.  The augmentation (random horizontal flip, random 2-pixel shift) is the usual
CIFAR recipe, written in plain torch and applied to a whole batch at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
from collections.abc import Callable, Iterator

import torch
from torch import nn

from verifier.errors import VerifierError

logger = logging.getLogger(__name__)

_SHIFT = 2  # pixels of random shift in augmentation


class TrainingError(VerifierError):
    """Training or evaluation cannot run with these inputs or this configuration."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of ``train``; frozen so a run's settings can be logged and compared as one value."""

    epochs: int = 1  # passes over the training set
    batch_size: int = 128  # examples per optimisation step (the last batch of an epoch may be smaller)
    lr: float = 0.05  # peak learning rate, decayed to 0 by a cosine schedule over all steps
    momentum: float = 0.9  # SGD momentum (ignored by adam)
    weight_decay: float = 5e-4  # L2 penalty, applied by the optimizer
    optimizer: str = "sgd"  # "sgd" | "adam"
    seed: int = 0  # seeds shuffling, augmentation and the global RNG (not init: that happens in build())
    augment: bool = False  # images only: random horizontal flip and random 2-pixel shift
    max_steps: int | None = None  # stop after this many steps even if epochs remain (None: no cap)


def train(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    config: TrainConfig,
    progress: Callable[[int, float], None] | None = None,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = nn.functional.cross_entropy,
) -> list[float]:
    """Fit ``model`` to (x, y) in place, minimising ``loss_fn(model(x_batch), y_batch)`` (cross-entropy by
    default; ``y`` may hold soft targets for another loss); returns the loss of every step."""
    _check_inputs(x, y, config)
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    total = _total_steps(len(x), config)
    opt = make_optimizer(
        model, config.optimizer, config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
    losses: list[float] = []
    was_training = model.training
    model.train()
    try:
        for xb, yb in _batches(x, y, config, gen, _device(model), total):
            loss = loss_fn(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
            if progress is not None:
                progress(len(losses), losses[-1])
    finally:
        model.train(was_training)
    logger.info("trained %d steps, final loss %.4f", total, losses[-1])
    return losses


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Predicted labels (N,) in eval mode; the model's previous mode is restored afterwards."""
    with eval_mode(model):
        device = _device(model)
        return torch.cat([model(xb.to(device)).argmax(1).cpu() for xb in x.split(batch_size)])


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """model.eval() inside (BatchNorm uses its running statistics), the previous training mode restored after."""
    was_training = model.training
    try:
        yield model.eval()
    finally:
        model.train(was_training)


def make_optimizer(
    model: nn.Module, kind: str, lr: float, *, momentum: float = 0.9, weight_decay: float = 0.0
) -> torch.optim.Optimizer:
    """Adam or SGD (with momentum) over every parameter of ``model``."""
    if kind == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    if kind == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    raise TrainingError(f"unknown optimizer {kind!r}; known: sgd, adam")


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 512) -> float:
    """Accuracy in [0, 1] of ``model`` on (x, y)."""
    if len(x) == 0 or len(x) != len(y):
        raise TrainingError(f"evaluate needs matching non-empty inputs, got {len(x)} inputs, {len(y)} labels")
    return (predict(model, x, batch_size) == y.cpu()).float().mean().item()


def _check_inputs(x: torch.Tensor, y: torch.Tensor, config: TrainConfig) -> None:
    if len(x) == 0 or len(x) != len(y):
        raise TrainingError(f"train needs matching non-empty inputs, got {len(x)} inputs, {len(y)} labels")
    if config.epochs < 1 or config.batch_size < 1 or (config.max_steps is not None and config.max_steps < 1):
        raise TrainingError(f"epochs, batch_size and max_steps must be positive, got {config}")
    if config.augment and x.dim() != 4:
        raise TrainingError(f"augment works on image batches (N, C, H, W), got shape {tuple(x.shape)}")


def _batches(
    x: torch.Tensor,
    y: torch.Tensor,
    config: TrainConfig,
    gen: torch.Generator,
    device: torch.device,
    total: int,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``total`` shuffled (and optionally augmented) batches on ``device``, epoch after epoch."""
    step = 0
    while True:
        for idx in torch.randperm(len(x), generator=gen).split(config.batch_size):
            if step == total:
                return
            xb = x[idx].to(device)
            yield (_augment(xb, gen) if config.augment else xb), y[idx].to(device)
            step += 1


def _total_steps(n: int, config: TrainConfig) -> int:
    total = config.epochs * math.ceil(n / config.batch_size)
    return total if config.max_steps is None else min(total, config.max_steps)


def _device(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random horizontal flip, then a random shift of up to ``_SHIFT`` pixels (zero pad and crop)."""
    b, c, h, w = x.shape
    flip = (torch.rand(b, generator=gen) < 0.5).to(x.device)
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    padded = nn.functional.pad(x, (_SHIFT,) * 4)  # (B, C, H+2s, W+2s)
    dy, dx = torch.randint(0, 2 * _SHIFT + 1, (2, b, 1), generator=gen).to(x.device)
    rows = (dy + torch.arange(h, device=x.device))[:, None, :, None].expand(b, c, h, w + 2 * _SHIFT)
    cols = (dx + torch.arange(w, device=x.device))[:, None, None, :].expand(b, c, h, w)
    return padded.gather(2, rows).gather(3, cols)  # (B, C, H, W)
