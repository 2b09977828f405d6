"""The ownership test: p-values against scipy on hand-made tables, the verdict rules, degenerate inputs."""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy import stats as scipy_stats

from verifier.watermark import stats


def bits_for_table(table: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Extracted and reference bit vectors whose 2×2 table (rows extracted −/+, columns reference −/+) is ``table``."""
    extracted, reference = [], []
    for row, e in enumerate((-1, 1)):
        for col, r in enumerate((-1, 1)):
            extracted += [e] * table[row][col]
            reference += [r] * table[row][col]
    return np.array(extracted), np.array(reference)


TABLES = [
    [[32, 0], [0, 32]],
    [[20, 12], [9, 23]],
    [[5, 3], [2, 6]],
    [[1, 40], [37, 2]],
    [[100, 90], [80, 110]],
]


@pytest.mark.parametrize("table", TABLES)
def test_chi2_matches_scipy_yates(table: list[list[int]]) -> None:
    expected = scipy_stats.chi2_contingency(np.array(table), correction=True)
    result = stats.ownership_test(*bits_for_table(table))
    assert result.table == (tuple(table[0]), tuple(table[1]))
    assert result.chi2 == pytest.approx(expected.statistic, rel=1e-12)
    assert result.p_chi2 == pytest.approx(expected.pvalue, rel=1e-9)


@pytest.mark.parametrize("table", TABLES)
def test_binomial_matches_scipy_one_sided(table: list[list[int]]) -> None:
    extracted, reference = bits_for_table(table)
    matches = int(np.sum(extracted == reference))
    expected = scipy_stats.binomtest(matches, len(extracted), 0.5, alternative="greater").pvalue
    assert stats.ownership_test(extracted, reference).p_binomial == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(("n", "reference_p"), [(64, 9.2e-15), (256, 9.4e-57)])
def test_perfect_extraction_reaches_the_reference_p_values(n: int, reference_p: float) -> None:
    """DESIGN.md §7: perfect extraction of balanced bits gives p ≈ 9.2e-15 (n = 64) and ≈ 9.4e-57 (n = 256)."""
    bits = np.array([1, -1] * (n // 2))
    result = stats.ownership_test(bits, bits)
    assert result.p_chi2 == pytest.approx(reference_p, rel=0.02)
    assert result.is_copy and result.wsr == 1.0


def test_a_flipped_watermark_is_significant_but_not_a_copy() -> None:
    """The reference code's two-sided test counted a fully inverted watermark as ownership."""
    bits = np.array([1, -1] * 32)
    result = stats.ownership_test(-bits, bits)
    assert result.p_chi2 < 1e-10
    assert result.wsr == 0.0
    assert not result.is_copy
    assert result.verdict.startswith("not a copy: the bits are significantly *inverted*")


def test_all_extracted_bits_with_one_sign_do_not_crash() -> None:
    """An empty table row made the reference code (and scipy) raise; it is simply no evidence."""
    reference = np.array([1, -1] * 32)
    result = stats.ownership_test(np.ones(64), reference)
    assert (result.chi2, result.p_chi2) == (0.0, 1.0)
    assert result.p_binomial == pytest.approx(
        scipy_stats.binomtest(32, 64, 0.5, alternative="greater").pvalue
    )
    assert not result.is_copy


def test_inputs_are_not_mutated_and_accept_torch_tensors() -> None:
    torch = pytest.importorskip("torch")
    extracted = torch.tensor([1, -1, 1, 1], dtype=torch.int8)
    reference = torch.tensor([1, -1, -1, 1], dtype=torch.int8)
    before = extracted.clone(), reference.clone()
    result = stats.ownership_test(extracted, reference)
    assert result.matches == 3
    assert torch.equal(extracted, before[0]) and torch.equal(reference, before[1])


@pytest.mark.parametrize(
    ("extracted", "reference", "alpha", "message"),
    [
        ([1, -1], [1, -1, 1], 0.01, "extracted has 2 bits but the reference has 3"),
        ([], [], 0.01, "extracted holds no bits"),
        ([1, 0], [1, -1], 0.01, "extracted bits must all be −1 or +1"),
        ([1, -1], [1, -1], 1.5, "alpha must lie in (0, 1)"),
    ],
)
def test_malformed_inputs_raise_a_clear_error(
    extracted: list[int], reference: list[int], alpha: float, message: str
) -> None:
    with pytest.raises(stats.StatisticsError, match=re.escape(message)):
        stats.ownership_test(np.array(extracted), np.array(reference), alpha=alpha)
