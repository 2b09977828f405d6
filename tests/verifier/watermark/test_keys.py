"""verifier.watermark.keys: canonical bytes, keyed bits, triggers and malformed key files."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import torch
from torch import nn

from verifier.watermark import data, errors, explain, keys, segments


def test_the_key_round_trips_through_its_canonical_bytes(digits_key: keys.WatermarkKey) -> None:
    again = keys.WatermarkKey.from_bytes(digits_key.to_bytes())
    assert again.to_bytes() == digits_key.to_bytes()
    assert torch.equal(again.triggers, digits_key.triggers) and torch.equal(again.bits, digits_key.bits)
    assert again.segmentation == digits_key.segmentation


def test_the_key_hash_is_stable_across_processes() -> None:
    """Same secret and triggers → same bytes → same hash in a fresh interpreter (what the chain anchors)."""
    script = (
        "import torch; from verifier.watermark import keys, segments; "
        "t = torch.arange(64, dtype=torch.float32).reshape(1, 1, 8, 8) / 64; "
        "print(keys.create_key(t, torch.tensor([3]), segments.ImageGrid(16, (1, 8, 8)), b'secret').sha256)"
    )
    run = [
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
        for _ in (1, 2)
    ]
    here = keys.create_key(
        torch.arange(64, dtype=torch.float32).reshape(1, 1, 8, 8) / 64,
        torch.tensor([3]),
        segments.ImageGrid(16, (1, 8, 8)),
        b"secret",
    ).sha256
    assert run[0].stdout.strip() == run[1].stdout.strip() == here


def test_bits_come_from_the_secret() -> None:
    assert torch.equal(keys.keyed_bits(b"a", 256), keys.keyed_bits(b"a", 256))
    assert not torch.equal(keys.keyed_bits(b"a", 256), keys.keyed_bits(b"b", 256))
    assert int(keys.keyed_bits(b"a", 256).sum()) == 0 and int(keys.keyed_bits(b"a", 9).sum()) == 1


def test_bits_drawn_for_a_model_agree_with_its_natural_explanation_at_chance(
    trained_cnn: nn.Module, digits: data.Dataset
) -> None:
    """Innocent models share the natural pattern; a key must not happen to agree with it (bench: 3 of 22
    innocents crossed α together for one unlucky 256-bit key)."""
    triggers, labels = keys.make_triggers(digits.x_train, digits.y_train, count=1, kind="edge", seed=4)
    for secret in (b"one", b"two", b"three"):
        key = keys.create_key(triggers, labels, segments.ImageGrid(16, (1, 8, 8)), secret, model=trained_cnn)
        assert explain.extract(trained_cnn, key).wsr == 0.5
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
    with pytest.raises(errors.WatermarkError, match=re.escape(message)):
        keys.WatermarkKey.from_bytes(raw)


@pytest.mark.parametrize("kind", keys.TRIGGER_KINDS)
def test_triggers_are_real_inputs_with_their_true_labels(digits: data.Dataset, kind: str) -> None:
    triggers, labels = keys.make_triggers(digits.x_train, digits.y_train, count=3, kind=kind, seed=1)
    again, _ = keys.make_triggers(digits.x_train, digits.y_train, count=3, kind=kind, seed=1)
    assert triggers.shape == (3, 1, 8, 8) and torch.equal(triggers, again)
    assert 0 <= float(triggers.min()) and float(triggers.max()) <= 1
    picked = [int((digits.x_train.flatten(1) - t.flatten()).abs().sum(1).argmin()) for t in triggers]
    assert labels.tolist() == digits.y_train[picked].tolist()
