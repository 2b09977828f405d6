"""Explanation and extraction: the bits a model's explanations spell on the key's triggers (DESIGN.md §7).

For a trigger x with its true label y, s masked copies of x (segments removed and filled with a constant) go
through the model, and a LIME-style ridge regression of a metric of the output (the true-class logit relative to
the mean logit, the true-class probability, or 1[label correct]) on the masks, fitted WITH an intercept, gives
one attribution per segment; its signs are the bits:

    v_k = metric(model(x ⊙ M_k + fill · (1 − M_k)), y)          k = 1..s       (s masked queries)
    M̃   = M − 1·mean(M),  ṽ = v − mean(v)                        centring = an unpenalised intercept
    W   = (M̃ᵀM̃ + λI)⁻¹ M̃ᵀ ṽ                                      closed-form ridge, precomputed once
    bit_i = +1 if W_i > 0 else −1                                WSR = mean(bit == reference)

Which transformations of the model's output leave the bits unchanged. The intercept absorbs anything that adds
the same amount to every masked query of one trigger, and the ridge is linear in v:
- metric "logit" (the default), v = z_y − mean_j z_j: z ↦ a·z + b + c(x)·1 for any a > 0, any per-class
  constant vector b and any per-input constant c(x). That covers a global shift (``head.bias += 20``), a
  per-class shift (``head.bias += b``), temperature scaling (z / T: every attribution scaled by 1/T, no sign
  changed) and outputs given as log-softmax or log-probabilities (log p = z − logsumexp z: a per-input shift),
  so logits, log-probabilities and full probability vectors (logged) give the same bits. The raw true-class
  logit would not do: appending a LogSoftmax, which changes no prediction, took a digits CNN's 16-bit
  watermark from WSR 1.0 to 0.56 (p 0.34).
- metric "probability": anything softmax ignores, z ↦ z + c(x)·1 (global shift, log-softmax outputs).
  Temperature and per-class shifts change probabilities non-linearly and can flip a bit.
- metric "label": anything that keeps the predicted label: any shift by a per-input constant, any temperature,
  softmax or log-softmax of the logits; only the argmax is read.
Attacks that change behaviour (fine-tuning, pruning, distillation) are measured, not assumed
(bench/robustness.py).

The ridge is differentiable in v, so embedding trains through the same ``Explainer``.

References: Ribeiro et al., "Why should I trust you?" (LIME), KDD 2016; Shao et al., "BIMW: blockchain-enabled
innocuous model watermarking" (the seed paper, ../shared/seeds).
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

import torch
from torch import nn

from verifier.watermark import training
from verifier.watermark.errors import WatermarkError

if TYPE_CHECKING:  # annotations only: keys needs no explanation code
    from verifier.watermark import keys


def metric_values(
    logits: torch.Tensor, labels: torch.Tensor, metric: str, temperature: float | None = None
) -> torch.Tensor:
    """v = metric(logits, y) per row. With a ``temperature``, "label" keeps the step 1[margin > 0] as its value
    but takes the gradient of the smooth σ(margin / τ) (a straight-through estimator), so that embedding for a
    hard-label API has a gradient and its hinge (and early stop) judges exactly what extraction reads. A smooth
    value instead let the hinge be met by margins that never cross the decision boundary: on a digits CNN
    (16 bits, 2 triggers, 300 Adam steps) the smooth σ at τ 0.25 reached WSR 0.81–0.94 on 3 keys, this
    0.97–1.0 at τ 1 (0.84 on a fourth key)."""
    if metric == "logit":  # relative to the mean logit: blind to a per-input shift (log-softmax outputs)
        return logits.gather(1, labels[:, None]).squeeze(1) - logits.mean(dim=1)
    if metric == "probability":
        return logits.softmax(dim=1).gather(1, labels[:, None]).squeeze(1)
    if metric == "label":
        if temperature is None:
            return (logits.argmax(dim=1) == labels).to(logits.dtype)
        true = logits.gather(1, labels[:, None]).squeeze(1)
        others = logits.scatter(1, labels[:, None], float("-inf")).amax(dim=1)
        smooth = torch.sigmoid((true - others) / temperature)
        step = (true > others).to(logits.dtype)
        return step + smooth - smooth.detach()  # the step's value, the sigmoid's gradient
    raise WatermarkError(f"unknown metric {metric!r}")


class Explainer(nn.Module):
    """Attributions of a model on the key's triggers, (T, n); differentiable in the model's parameters.

    The ridge solution is linear in v, so its matrix P = (M̃ᵀM̃ + λI)⁻¹M̃ᵀ (n × s, M̃ the column-centred masks)
    is solved once here and every extraction is one matrix product after the forward passes. P·1 = 0, so a
    constant added to v cannot move W; v is centred as well, so that float rounding of a large constant
    cannot either.
    """

    def __init__(self, key: keys.WatermarkKey):
        super().__init__()
        self.key = key
        masks = key.masks.matrix(key.n_bits).double()  # (s, n)
        centred = masks - masks.mean(dim=0, keepdim=True)  # (s, n): the intercept, unpenalised
        gram = centred.T @ centred + key.ridge_lambda * torch.eye(key.n_bits, dtype=torch.float64)
        self.register_buffer("projection", torch.linalg.solve(gram, centred.T).float())  # (n, s)
        input_masks = masks.float()[:, key.segmentation.assignment()]  # (s, *input_shape)
        self.register_buffer("input_masks", input_masks)
        self.num_masks = int(masks.shape[0])

    def masked_inputs(self, triggers: torch.Tensor) -> torch.Tensor:
        """(T, *shape) → (T·s, *shape): every trigger under every mask, removed segments set to the fill."""
        fill = self.key.fill
        masked = fill + (triggers[:, None] - fill) * self.input_masks  # (T, s, *shape)
        return masked.flatten(0, 1)

    def attributions(self, values: torch.Tensor) -> torch.Tensor:
        """Metric values (T·s,) → ridge weights (T, n), each trigger's values centred on their own mean."""
        per_trigger = values.view(-1, self.num_masks)  # (T, s)
        return (per_trigger - per_trigger.mean(dim=1, keepdim=True)) @ self.projection.T

    def forward(
        self, model: nn.Module, triggers: torch.Tensor, labels: torch.Tensor, temperature: float | None = None
    ) -> torch.Tensor:
        inputs = self.masked_inputs(triggers)  # (T·s, *shape)
        targets = labels.repeat_interleave(self.num_masks)  # (T·s,)
        values = metric_values(model(inputs), targets, self.key.metric, temperature)
        return self.attributions(values)


# --------------------------------------------------------------------------- extraction


@dataclasses.dataclass(frozen=True, eq=False)
class Extraction:
    """What a model's explanations say on the key's triggers, bit by bit."""

    attributions: torch.Tensor  # (T, n) ridge weights W
    bits: torch.Tensor  # (T·n,) int8 ±1, trigger-major: sign of W (zero counts as −1)
    reference: torch.Tensor  # (T·n,) int8 ±1, the key's bits for every trigger
    predictions: torch.Tensor  # (T,) the model's labels on the unmasked triggers
    queries: int  # model evaluations used (masked inputs + the triggers themselves)
    seconds: float

    @property
    def wsr(self) -> float:
        """Watermark success rate over every trigger's bits."""
        return float((self.bits == self.reference).float().mean())

    @property
    def per_trigger_wsr(self) -> list[float]:
        n = self.attributions.shape[1]
        return (self.bits == self.reference).float().view(-1, n).mean(dim=1).tolist()


@torch.no_grad()
def extract(model: nn.Module, key: keys.WatermarkKey, batch_size: int = 1024) -> Extraction:
    """Query the model on every masked trigger in batched forward passes and read the bits off the ridge.

    ``model`` is any ``nn.Module`` mapping a batch of inputs to logits (B, classes).

    The unmasked triggers ride in the same batches (their predicted labels go in the report), so the model's
    forward passes are the only real cost.
    """
    explainer = Explainer(key)
    start = time.perf_counter()
    masked = explainer.masked_inputs(key.triggers)  # (T·s, *shape)
    inputs = torch.cat([masked, key.triggers])  # (T·s + T, *shape)
    with training.eval_mode(model):
        logits = torch.cat([model(batch) for batch in inputs.split(batch_size)])
    targets = key.labels.repeat_interleave(explainer.num_masks)
    weights = explainer.attributions(metric_values(logits[: len(masked)], targets, key.metric))
    seconds = time.perf_counter() - start
    return Extraction(
        attributions=weights,
        bits=torch.where(weights > 0, 1, -1).to(torch.int8).reshape(-1),
        reference=key.reference,
        predictions=logits[len(masked) :].argmax(dim=1),
        queries=len(inputs),
        seconds=seconds,
    )


def uncontrollable_segments(key: keys.WatermarkKey, tolerance: float = 1e-6) -> list[tuple[int, int]]:
    """(trigger, segment) pairs whose every element equals the fill: removing them changes nothing, so
    their bit cannot be set (the all-black borders of Fashion-MNIST with fill 0, DESIGN.md §7)."""
    assignment = key.segmentation.assignment().reshape(-1)
    flat = (key.triggers - key.fill).abs().reshape(key.num_triggers, -1) > tolerance  # (T, D)
    differing = torch.zeros(key.num_triggers, key.n_bits).index_add_(1, assignment, flat.float())  # (T, n)
    return [(int(t), int(i)) for t, i in (differing == 0).nonzero().tolist()]
