"""`from verifier.watermark import embed, verify` on the user's own modules and data, one modality per test.

Every model is a plain ``nn.Module`` defined here (none of Ledgermark's architectures), trained in the test on
synthetic data; the innocent model is the same architecture trained from another seed.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from verifier.watermark import embed, embedding, extract, keys, training, verify
from verifier.watermark.errors import WatermarkError

QUICK = embedding.EmbedConfig(steps=800, lr=1e-3)  # stops early once every margin holds
SEED = bytes(range(32))  # a fixed key seed: the same bits, masks and triggers on every run
VOCAB, LENGTH, PAD = 24, 16, 0


def fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int = 15) -> nn.Module:
    config = training.TrainConfig(epochs=epochs, batch_size=64, lr=1e-2, optimizer="adam", weight_decay=0.0)
    training.train(model, x, y, config)
    return model.eval()


def tabular(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """600 rows of 12 features, 3 classes from a random linear rule: numpy arrays, as a user would have."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(600, 12)).astype(np.float32)
    return x, (x @ rng.normal(size=(12, 3))).argmax(axis=1)


def tokens(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids 1..VOCAB-1 (0 is the pad id); the class says whether low ids outnumber high ones."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randint(1, VOCAB, (600, LENGTH), generator=generator)
    return x, ((x < VOCAB // 2).sum(dim=1) > LENGTH // 2).long()


class TokenClassifier(nn.Module):
    """Embeddings of every position, concatenated, then an MLP: a text classifier in miniature."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 8)
        self.head = nn.Sequential(nn.Linear(8 * LENGTH, 32), nn.ReLU(), nn.Linear(32, 2))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(ids).flatten(1))  # (B, L, 8) → (B, 2)


def mlp(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 3))


def cnn(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 8 * 8, 2))


def test_tabular_rows_from_numpy_arrays_round_trip_and_an_innocent_model_is_not_a_copy() -> None:
    x, y = tabular()
    tensors = (torch.from_numpy(x), torch.from_numpy(y))
    model, innocent = fit(mlp(0), *tensors), fit(mlp(1), *tensors)

    key, report = embed(model, (x, y), bits=12, config=QUICK, seed=SEED, test_data=(x[:200], y[:200]))

    assert key.segmentation.kind == "feature-groups" and key.n_bits == 12
    assert report.wsr_after == 1.0 and report.triggers_correct
    assert report.clean_acc_after >= report.clean_acc_before - 0.05
    assert verify(model, key).is_copy
    assert not verify(innocent, key).is_copy


def test_images_from_a_data_loader_round_trip_through_the_key_bytes() -> None:
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(400, 1, 8, 8, generator=generator)
    y = (x[:, :, :4].mean(dim=(1, 2, 3)) > x[:, :, 4:].mean(dim=(1, 2, 3))).long()  # brighter top half?
    model = fit(cnn(0), x, y)
    loader = DataLoader(TensorDataset(x, y), batch_size=50)

    key, report = embed(model, loader, bits=16, config=QUICK, seed=SEED)
    restored = keys.WatermarkKey.from_bytes(key.to_bytes())

    assert key.segmentation.kind == "image-grid" and report.wsr_after == 1.0
    result = verify(model, restored)
    assert result.is_copy and result.wsr == 1.0
    assert not verify(fit(cnn(1), x, y), restored).is_copy


def test_token_sequences_remove_spans_with_the_pad_id_and_verify_with_integer_ids() -> None:
    x, y = tokens()
    torch.manual_seed(0)
    model = fit(TokenClassifier(), x, y)
    seen: list[torch.dtype] = []
    model.register_forward_pre_hook(lambda _module, args: seen.append(args[0].dtype))

    key, report = embed(model, TensorDataset(x, y), bits=16, pad_token_id=PAD, config=QUICK, seed=SEED)

    assert key.segmentation.kind == "sequence-spans" and key.fill == PAD
    assert torch.equal(key.triggers, key.triggers.round()) and bool((key.triggers > 0).all())
    assert key.embedding["inputs"] == "token-ids"
    assert report.wsr_after == 1.0 and report.triggers_correct
    assert set(seen) == {torch.int64}  # the model only ever saw token ids, never fractions
    extraction = extract(model, keys.WatermarkKey.from_bytes(key.to_bytes()))
    assert extraction.wsr == 1.0 and verify(model, key).is_copy
    torch.manual_seed(1)
    assert not verify(fit(TokenClassifier(), x, y), key).is_copy


def test_hugging_face_style_outputs_are_read_for_their_logits() -> None:
    class Output(dict):
        @property
        def logits(self) -> torch.Tensor:
            return self["logits"]

    class Wrapped(nn.Module):
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> Output:
            return Output(logits=self.inner(x), hidden=None)

    x, y = tabular()
    tensors = (torch.from_numpy(x), torch.from_numpy(y))
    model = fit(mlp(0), *tensors)
    key, _ = embed(Wrapped(model), tensors, bits=12, config=QUICK, seed=SEED)
    assert verify(model, key).is_copy  # the same weights, called bare


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "token sequences need pad_token_id"),
        ({"pad_token_id": PAD, "fill": 0.5}, "token sequences need pad_token_id"),
        ({"pad_token_id": PAD, "trigger_kind": "noise"}, "token triggers must stay real token ids"),
        ({"pad_token_id": 2**30}, "pad_token_id must be a token id"),
    ],
)
def test_token_settings_that_cannot_work_are_refused_before_training(kwargs: dict, message: str) -> None:
    x, y = tokens()
    with pytest.raises(WatermarkError, match=message):
        embed(TokenClassifier(), (x, y), bits=8, config=QUICK, seed=SEED, **kwargs)


def test_only_examples_whose_every_span_can_carry_a_bit_become_triggers() -> None:
    x, y = tokens()
    x[:-3, -LENGTH // 4 :] = (
        PAD  # all but 3 sequences end in a quarter of padding: their last spans are blank
    )
    torch.manual_seed(0)
    key, _ = embed(
        fit(TokenClassifier(), x, y), (x, y), bits=8, pad_token_id=PAD, triggers=2, config=QUICK, seed=SEED
    )
    assert bool((key.triggers[:, -LENGTH // 4 :] != PAD).any(dim=1).all())


def test_the_modality_is_checked_against_the_data() -> None:
    x, y = tabular()
    with pytest.raises(WatermarkError, match="unknown modality 'audio'"):
        embed(mlp(0), (x, y), modality="audio")
    with pytest.raises(
        WatermarkError, match=r"tokens are \(N, L\) integer ids, not \(600, 12\) torch.float32"
    ):
        embed(mlp(0), (x, y), modality="tokens", pad_token_id=PAD)
    with pytest.raises(WatermarkError, match=r"cannot tell the modality of examples shaped \(2, 3, 4, 5\)"):
        embed(mlp(0), (torch.zeros(2, 2, 3, 4, 5), torch.zeros(2, dtype=torch.long)))


def test_a_model_that_does_not_fit_the_key_is_a_clear_error() -> None:
    x, y = tabular()
    tensors = (torch.from_numpy(x), torch.from_numpy(y))
    key, _ = embed(fit(mlp(0), *tensors), tensors, bits=12, config=QUICK, seed=SEED)
    with pytest.raises(WatermarkError, match=r"cannot run on the key's triggers \(shaped \(1, 12\)\)"):
        verify(nn.Linear(7, 3), key)
    with pytest.raises(WatermarkError, match="this key was not made for this model"):
        verify(nn.Linear(12, 1), key)
