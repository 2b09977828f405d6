"""verifier.watermark.keys: canonical bytes, seed-derived balanced bits, triggers and malformed key files."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import subprocess
import sys

import pytest
import torch

from verifier.watermark import data, errors, keys, segments


def test_the_key_round_trips_through_its_canonical_bytes(digits_key: keys.WatermarkKey) -> None:
    again = keys.WatermarkKey.from_bytes(digits_key.to_bytes())
    assert again.to_bytes() == digits_key.to_bytes()
    assert torch.equal(again.triggers, digits_key.triggers) and torch.equal(again.bits, digits_key.bits)
    assert again.segmentation == digits_key.segmentation


def test_the_key_hash_is_stable_across_processes() -> None:
    """Same seed and triggers → same bytes → same hash in a fresh interpreter (what the chain anchors)."""
    script = (
        "import torch; from verifier.watermark import keys, segments; "
        "t = torch.arange(64, dtype=torch.float32).reshape(1, 1, 8, 8) / 64; "
        "print(keys.create_key(t, torch.tensor([3]), segments.ImageGrid(16, (1, 8, 8)), bytes(range(32))).sha256)"
    )
    run = [
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
        for _ in (1, 2)
    ]
    here = keys.create_key(
        torch.arange(64, dtype=torch.float32).reshape(1, 1, 8, 8) / 64,
        torch.tensor([3]),
        segments.ImageGrid(16, (1, 8, 8)),
        bytes(range(32)),
    ).sha256
    assert run[0].stdout.strip() == run[1].stdout.strip() == here


SEED = hashlib.sha256(b"test seed").digest()


def test_bits_come_from_the_seed() -> None:
    assert torch.equal(keys.derive_bits(SEED, 256), keys.derive_bits(SEED, 256))
    assert not torch.equal(keys.derive_bits(SEED, 256), keys.derive_bits(bytes(32), 256))
    assert keys.derive_bits(SEED, 256).dtype == torch.int8


@pytest.mark.parametrize("n", [*range(1, 10), 64, 255, 256, 1023, 4096])
def test_bits_are_exactly_balanced_for_every_parity(n: int) -> None:
    for seed in (SEED, bytes(32), b"\xff" * 32):
        bits = keys.derive_bits(seed, n)
        assert bits.shape == (n,) and set(bits.tolist()) <= {-1, 1}
        plus = int((bits == 1).sum())
        assert plus in ((n // 2,) if n % 2 == 0 else (n // 2, n // 2 + 1))


def test_the_odd_bit_and_the_order_are_the_prfs() -> None:
    """Over many seeds the extra bit of an odd n is "+" about half the time and every position is "+" about
    half the time: nothing but the seed decides."""
    seeds = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(400)]
    odd = torch.stack([keys.derive_bits(s, 9) for s in seeds])  # (400, 9)
    extra_plus = int((odd.sum(dim=1) == 1).sum())
    assert 160 < extra_plus < 240
    per_position = (torch.stack([keys.derive_bits(s, 16) for s in seeds]) == 1).float().mean(dim=0)
    assert bool(torch.all((per_position > 0.38) & (per_position < 0.62))), per_position


def test_the_prf_is_shake256_with_a_domain_string() -> None:
    """An arbiter re-derives a key in any language: the first word of the "masks" stream is SHAKE-256 of the
    domain, the purpose, a zero byte and the seed, read big-endian and shifted right by one."""
    digest = hashlib.shake_256(keys.PRF_DOMAIN + b"masks\x00" + SEED).digest(8)
    assert keys.derive_seed(SEED, "masks") == int.from_bytes(digest, "big") >> 1
    assert keys.create_key(
        torch.rand(1, 8), torch.tensor([0]), segments.FeatureGroups(4, (8,)), SEED
    ).masks.seed == (keys.derive_seed(SEED, "masks"))


def test_trigger_picks_derive_from_the_key_seed(digits: data.Dataset) -> None:
    picked, _ = keys.make_triggers(digits.x_train, digits.y_train, count=3, kind="noise", seed=SEED)
    again, _ = keys.make_triggers(digits.x_train, digits.y_train, count=3, kind="noise", seed=SEED)
    other, _ = keys.make_triggers(digits.x_train, digits.y_train, count=3, kind="noise", seed=bytes(32))
    assert torch.equal(picked, again) and not torch.equal(picked, other)


def test_a_key_whose_bits_do_not_re_derive_from_its_seed_is_refused(digits_key: keys.WatermarkKey) -> None:
    """The false-claim weapon: bits set by hand (say, to a natural attribution pattern) are refused."""
    document = digits_key.to_dict()
    crafted = "".join(reversed(document["bits"]))
    assert crafted != document["bits"]
    with pytest.raises(errors.WatermarkError, match="bits do not re-derive from the key's seed"):
        keys.WatermarkKey.from_dict({**document, "bits": crafted})
    with pytest.raises(errors.WatermarkError, match="bits do not re-derive from the key's seed"):
        keys.WatermarkKey.from_dict({**document, "seed": "00" * 32})
    with pytest.raises(errors.WatermarkError, match="mask seed .* does not re-derive"):
        keys.WatermarkKey.from_dict({**document, "masks": {**document["masks"], "seed": 5}})
    with pytest.raises(errors.WatermarkError, match="bits do not re-derive"):
        dataclasses.replace(digits_key, bits=-digits_key.bits)  # not in memory either


def test_a_version_1_key_is_refused_with_a_way_forward(digits_key: keys.WatermarkKey) -> None:
    document = {k: v for k, v in digits_key.to_dict().items() if k != "seed"}
    with pytest.raises(errors.WatermarkError, match="version-1 watermark key.*re-create the key"):
        keys.WatermarkKey.from_dict({**document, "version": 1})


def test_the_seed_is_in_the_key_and_must_be_32_bytes(digits_key: keys.WatermarkKey) -> None:
    assert digits_key.to_dict()["seed"] == digits_key.seed.hex() and len(digits_key.seed) == 32
    with pytest.raises(errors.WatermarkError, match="seed must be 32 bytes"):
        keys.create_key(digits_key.triggers, digits_key.labels, digits_key.segmentation, b"short")
    for bad in ("zz" * 32, "00" * 31):
        with pytest.raises(errors.WatermarkError, match="seed must be 64 hex digits"):
            keys.WatermarkKey.from_dict({**digits_key.to_dict(), "seed": bad})


def test_a_fresh_seed_is_drawn_when_none_is_given(digits_key: keys.WatermarkKey) -> None:
    one = keys.create_key(digits_key.triggers, digits_key.labels, digits_key.segmentation)
    two = keys.create_key(digits_key.triggers, digits_key.labels, digits_key.segmentation)
    assert one.seed != two.seed and len(one.seed) == 32


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
