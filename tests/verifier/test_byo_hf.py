"""Hugging Face ``transformers`` and ``timm`` classifiers through the same path as any other module.

Both are built from a config (no download: ``HF_HUB_OFFLINE=1``), small and random-initialised, briefly trained
here, then watermarked, written as safetensors, rebuilt by a factory and verified.

timm imports torchvision at import time (``timm/layers/create_norm.py``); PyPI's torchvision for torch 2.13 is a
CUDA build whose ``_C.so`` needs ``libtorch_cuda.so``, so beside the CPU torch pinned here it fails with
"operator torchvision::nms does not exist" and the timm test is skipped, saying why. Where torchvision imports
(torch 2.14.1 with torchvision 0.29.1, for one), it runs.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
import torch
from torch import nn

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers reads it: nothing may be downloaded

from verifier.watermark import api, embedding, sources, training

VOCAB, LENGTH, PAD = 24, 16, 0
QUICK = embedding.EmbedConfig(steps=800, lr=1e-3)  # stops early once every margin holds
SEED = bytes(range(32))  # a fixed key seed: the same bits, masks and triggers on every run


def fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, lr: float = 3e-3) -> nn.Module:
    config = training.TrainConfig(epochs=epochs, batch_size=32, lr=lr, optimizer="adam", weight_decay=0.0)
    training.train(sources.Classifier(model), x, y, config)
    return model.eval()


# --------------------------------------------------------------------------- transformers


def build_bert() -> nn.Module:
    """The user's factory: a one-layer BERT text classifier from a config, random-initialised."""
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(
        vocab_size=VOCAB,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=LENGTH,
        num_labels=2,
        pad_token_id=PAD,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    return transformers.BertForSequenceClassification(config)


def token_task(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randint(1, VOCAB, (400, LENGTH), generator=generator)
    return x, (x[:, 0] < VOCAB // 2).long()  # read off the first token, which BERT pools


def test_a_transformers_text_classifier_is_watermarked_saved_rebuilt_and_verified(tmp_path: Path) -> None:
    x, y = token_task()
    torch.manual_seed(0)
    model = fit(build_bert(), x, y, epochs=4, lr=1e-2)
    assert training.evaluate(sources.Classifier(model), x, y) > 0.7  # it learned the task

    key, report = api.embed(model, (x, y), bits=16, pad_token_id=PAD, config=QUICK, seed=SEED)
    weights = sources.ModelSource(model, "safetensors", tmp_path / "bert.safetensors").save(
        tmp_path / "bert-watermarked.safetensors"
    )
    rebuilt = sources.open_model(factory=f"{__name__}:build_bert", weights=weights)

    assert report.wsr_after == 1.0 and report.triggers_correct
    assert api.verify(rebuilt, key).is_copy
    torch.manual_seed(1)
    assert not api.verify(fit(build_bert(), x, y, epochs=4, lr=1e-2), key).is_copy


# --------------------------------------------------------------------------- timm


def import_timm() -> object:
    try:
        import timm
    except (
        ImportError,
        RuntimeError,
    ) as err:  # RuntimeError: torchvision's ops do not load beside this torch
        pytest.skip(f"timm does not import here: {type(err).__name__}: {err}")
    return timm


def build_vit() -> nn.Module:
    """The user's factory: a one-block timm ViT for 8×8 greyscale images, random-initialised."""
    timm = import_timm()
    return timm.create_model(  # type: ignore[attr-defined]
        "vit_tiny_patch16_224",
        pretrained=False,
        img_size=8,
        patch_size=2,
        in_chans=1,
        num_classes=2,
        embed_dim=16,
        depth=1,
        num_heads=2,
        global_pool="avg",
    )


def test_a_timm_image_classifier_is_watermarked_saved_rebuilt_and_verified(tmp_path: Path) -> None:
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(400, 1, 8, 8, generator=generator)
    y = (x.mean(dim=(1, 2, 3)) > 0.5).long()  # brighter than average (a 1-block ViT learns it in seconds)
    torch.manual_seed(0)
    model = fit(build_vit(), x, y, epochs=10, lr=1e-2)
    assert training.evaluate(model, x, y) > 0.7

    vit_config = dataclasses.replace(QUICK, lr=3e-3)  # 160 steps here; at 1e-3 not all 800 sufficed
    key, report = api.embed(model, (x, y), bits=16, config=vit_config, seed=SEED)
    weights = sources.ModelSource(model, "safetensors", tmp_path / "vit.safetensors").save(
        tmp_path / "vit-watermarked.safetensors"
    )
    rebuilt = sources.open_model(factory=f"{__name__}:build_vit", weights=weights)

    assert report.wsr_after == 1.0 and report.triggers_correct
    assert api.verify(rebuilt, key).is_copy
    torch.manual_seed(1)
    assert not api.verify(fit(build_vit(), x, y, epochs=10, lr=1e-2), key).is_copy
