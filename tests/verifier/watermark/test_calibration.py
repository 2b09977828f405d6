"""Calibration against null models: the empirical p-value, the verdict rule, and null sets read back from disk."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import binom
from torch import nn

from tests.verifier.watermark.conftest import ownership
from verifier.watermark import calibration, data, embedding, explain, keys, models, report, stats

NULL_SPEC = models.ModelSpec(arch="mlp", num_classes=10, input_shape=(1, 8, 8))
K = 6  # p_emp can reach 1/7 ≈ 0.14: the tests use α = 0.2 where a copy must be possible


@pytest.fixture(scope="module")
def null_models(digits: data.Dataset) -> list[nn.Module]:
    """Six small MLPs on their own 80 % of digits, seeds 1000…: independent of every model under test."""
    return [m for m, _ in calibration.train_null_models(digits, NULL_SPEC, K, seed=1000, epochs=20)]


@pytest.fixture(scope="module")
def null_folder(tmp_path_factory: pytest.TempPathFactory, null_models: list[nn.Module]) -> Path:
    out = tmp_path_factory.mktemp("nulls") / "set"
    made = {"source": "trained", "note": "test"}
    calibration.write_null_set(out, trained=[(m, made) for m in null_models], dataset="digits")
    return out


def test_a_watermarked_model_lies_beyond_every_null(
    watermarked: tuple[nn.Module, keys.WatermarkKey, embedding.EmbedReport], null_models: list[nn.Module]
) -> None:
    model, key, _ = watermarked
    calibrated = calibration.calibrate(key, ownership(model, key, 0.2), null_models, alpha=0.2)
    assert calibrated.count == K and calibrated.exceeding == 0
    assert calibrated.p_empirical == pytest.approx(1 / (K + 1))
    assert calibrated.suspect.p_value < min(calibrated.null_p_values)
    assert calibrated.is_copy and calibrated.verdict.startswith("copy")


def test_an_independent_model_does_not(
    digits: data.Dataset,
    independent_cnn: nn.Module,
    digits_key: keys.WatermarkKey,
    null_models: list[nn.Module],
) -> None:
    """Innocent models made like the nulls are exchangeable with them: each lies beyond all six 1 time in 7."""
    innocents = calibration.train_null_models(digits, NULL_SPEC, 4, seed=2000, epochs=20)
    found = [
        calibration.calibrate(digits_key, ownership(model, digits_key, 0.2), null_models, alpha=0.2)
        for model, _ in innocents
    ]
    assert sum(c.exceeding == 0 for c in found) <= 2, [c.null_matches + (c.suspect.matches,) for c in found]
    assert not any(c.is_copy for c in found) and all(c.verdict.startswith("not a copy") for c in found)
    other = calibration.calibrate(
        digits_key, ownership(independent_cnn, digits_key, 0.2), null_models, alpha=0.2
    )
    assert not other.suspect.is_copy and not other.is_copy  # another architecture: not a copy either way


def test_too_few_nulls_never_convict_and_say_so(
    watermarked: tuple[nn.Module, keys.WatermarkKey, embedding.EmbedReport], null_models: list[nn.Module]
) -> None:
    model, key, _ = watermarked
    calibrated = calibration.calibrate(key, ownership(model, key, 0.01), null_models, alpha=0.01)
    assert calibrated.suspect.is_copy and calibrated.exceeding == 0  # the parametric test alone would convict
    assert not calibrated.is_copy and calibrated.nulls_needed == 99 and not calibrated.enough_nulls
    assert "too few null models" in calibrated.verdict
    assert "at least 99" in calibrated.warnings()[0]


def _result(matches: int, n: int = 64) -> stats.OwnershipResult:
    """A test result with ``matches`` agreeing bits out of ``n`` balanced reference bits."""
    reference = np.array([1, -1] * (n // 2))
    extracted = reference.copy()
    extracted[: n - matches] *= -1
    return stats.ownership_test(extracted, reference, alpha=0.01)


@pytest.mark.parametrize(("count", "significant"), [(99, True), (98, False)])
def test_p_emp_reaches_alpha_with_exactly_one_over_alpha_minus_one_nulls(
    count: int, significant: bool
) -> None:
    calibrated = calibration.Calibration(
        suspect=_result(64), null_p_values=(1.0,) * count, null_matches=(32,) * count, alpha=0.01
    )
    assert calibrated.p_empirical == pytest.approx(1 / (count + 1))
    assert calibrated.empirical_significant is significant and calibrated.is_copy is significant
    assert calibrated.enough_nulls is significant


def test_ties_count_against_the_claim() -> None:
    suspect = _result(48)
    calibrated = calibration.Calibration(
        suspect=suspect, null_p_values=(suspect.p_value, 1.0, 1.0), null_matches=(48, 30, 30), alpha=0.5
    )
    assert calibrated.exceeding == 1 and calibrated.p_empirical == 0.5


def _nulls_around(centre: int, spread: int, count: int = 99) -> tuple[tuple[float, ...], tuple[int, ...]]:
    """Null results whose agreements cycle through centre ± spread (a key that follows the natural pattern)."""
    matches = tuple(centre - spread + i % (2 * spread + 1) for i in range(count))
    return tuple(_result(m).p_value for m in matches), matches


def test_an_innocent_beyond_every_null_is_still_acquitted_near_the_keys_chance_rate() -> None:
    """A ground key: nulls agree 42–50 of 64 bits; an innocent at 53 passes Fisher and p_emp, not p_adjusted."""
    null_p, null_m = _nulls_around(46, 4)
    innocent = calibration.Calibration(
        suspect=_result(53), null_p_values=null_p, null_matches=null_m, alpha=0.01
    )
    assert innocent.suspect.is_copy and innocent.empirical_significant  # the two tests alone would convict
    assert innocent.p_adjusted > 0.01 and not innocent.is_copy
    assert "nearly as much as the suspect" in innocent.verdict
    copy = calibration.Calibration(suspect=_result(64), null_p_values=null_p, null_matches=null_m, alpha=0.01)
    assert copy.p_adjusted < 1e-6 and copy.is_copy


def test_adjusted_p_widens_to_the_nulls_spread() -> None:
    """Nulls more spread than a binomial (bits that move together) give a beta-binomial tail: a larger p."""
    _, tight = _nulls_around(32, 2)
    _, wide = _nulls_around(32, 16)
    assert calibration.adjusted_p(44, 64, tight) == pytest.approx(float(binom.sf(43, 64, 0.5)), rel=0.05)
    assert calibration.adjusted_p(44, 64, wide) > 10 * calibration.adjusted_p(44, 64, tight)


def test_a_null_set_round_trips_through_its_folder(null_folder: Path, null_models: list[nn.Module]) -> None:
    nulls = calibration.read_null_set(null_folder)
    assert nulls.count == K and nulls.input_shape == (1, 8, 8) and nulls.num_classes == 10
    manifest = (null_folder / calibration.MANIFEST_NAME).read_bytes()
    assert nulls.manifest_sha256 == hashlib.sha256(manifest).hexdigest()
    loaded = nulls.load(nulls.models[0])
    x = torch.rand(3, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(loaded(x), null_models[0](x))
    assert not [p for p in null_folder.parent.iterdir() if p.name.startswith(".")]  # no staging left


def test_a_model_file_changed_after_the_manifest_is_refused(null_folder: Path, tmp_path: Path) -> None:
    copy = tmp_path / "set"
    shutil.copytree(null_folder, copy)
    with open(copy / "null-0002.pt", "r+b") as stream:
        stream.seek(-20, 2)
        stream.write(b"tampered" * 2)
    nulls = calibration.read_null_set(copy)
    with pytest.raises(calibration.CalibrationError, match="null-0002.pt does not match the manifest"):
        list(nulls)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m["models"][0].update(file="../evil.pt"), "file '../evil.pt' is not"),
        (lambda m: m["models"][1].update(sha256=m["models"][0]["sha256"]), "two entries share a sha256"),
        (lambda m: m.update(format="something-else"), "not a ledgermark-null-set version 1 manifest"),
        (lambda m: m.update(extra=1), "unknown keys"),
        (lambda m: m["models"][0].update(bytes=True), "bytes must be a whole number"),
        (lambda m: m["models"][0]["made"].update(source="stolen"), "made.source 'stolen' is not"),
        (lambda m: m.update(models=[]), "lists no models"),
    ],
)
def test_a_tampered_manifest_is_refused(
    null_folder: Path, tmp_path: Path, change: Callable[[dict], None], message: str
) -> None:
    copy = tmp_path / "set"
    shutil.copytree(null_folder, copy)
    manifest = json.loads((copy / calibration.MANIFEST_NAME).read_text())
    change(manifest)
    (copy / calibration.MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(calibration.CalibrationError, match=re.escape(message)):
        calibration.read_null_set(copy)


def test_a_huge_or_deep_manifest_is_refused_before_parsing(tmp_path: Path) -> None:
    (tmp_path / calibration.MANIFEST_NAME).write_bytes(b" " * (calibration.MAX_MANIFEST_BYTES + 1))
    with pytest.raises(calibration.CalibrationError, match="larger than"):
        calibration.read_null_set(tmp_path)
    (tmp_path / calibration.MANIFEST_NAME).write_bytes(b"[" * 100_000)
    with pytest.raises(calibration.CalibrationError, match="nest"):
        calibration.read_null_set(tmp_path)


def test_a_failed_build_leaves_nothing(tmp_path: Path, null_models: list[nn.Module]) -> None:
    def trained():
        yield null_models[0], {"source": "trained"}
        raise calibration.CalibrationError("interrupted")

    with pytest.raises(calibration.CalibrationError, match="interrupted"):
        calibration.write_null_set(tmp_path / "set", trained=trained())
    assert list(tmp_path.iterdir()) == []


def test_the_report_shows_the_suspect_against_the_nulls(
    watermarked: tuple[nn.Module, keys.WatermarkKey, embedding.EmbedReport], null_models: list[nn.Module]
) -> None:
    model, key, _ = watermarked
    extraction = explain.extract(model, key)
    result = stats.ownership_test(extraction.bits, extraction.reference, alpha=0.2)
    calibrated = calibration.calibrate(key, result, null_models, alpha=0.2)
    built = report.build_report(
        key=key, extraction=extraction, result=result, model_sha256="0" * 64, calibration=calibrated
    )
    page, document = built.to_html(), json.loads(built.to_json())
    assert document["calibration"]["p_empirical"] == pytest.approx(1 / 7) and document["is_copy"]
    assert f"Against {K} null models" in page and '<svg class="null-histogram"' in page
    assert page.count('fill="#9ca3af"') >= 1 and 'stroke="#dc2626"' in page  # grey nulls, red suspect
    assert "http" not in page.split("<body>")[1]  # no external asset
